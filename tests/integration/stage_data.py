#!/usr/bin/env python3
"""Write RESP files of N keys of six types (string, hash, list, set, zset,
stream), every third with a TTL, one file per shard of a cluster whose
slot ranges are given: 'stage_data.py N PREFIX OUTDIR lo-hi[,lo-hi] ...'
writes OUTDIR/shard<i>.resp for 'redis-cli --pipe' to the i-th range's
primary. Used by tests/integration/test_stage.sh and bench/stage.sh."""
import sys


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def slot(key):
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return crc16(key) % 16384


def resp(*words):
    out = [b"*%d\r\n" % len(words)]
    for w in words:
        w = w if isinstance(w, bytes) else str(w).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(w), w))
    return b"".join(out)


def commands(i, prefix):
    t = i % 6
    key = b"%s:%s:%d" % (prefix, [b"str", b"hash", b"list", b"set", b"zset", b"stream"][t], i)
    if t == 0:
        yield resp(b"SET", key, b"value-%d-" % i + b"x" * (i % 50))
    elif t == 1:
        yield resp(b"HSET", key, b"f1", i, b"f2", b"v%d" % i)
    elif t == 2:
        yield resp(b"RPUSH", key, b"a", b"b", i)
    elif t == 3:
        yield resp(b"SADD", key, b"m1", b"m2", i)
    elif t == 4:
        yield resp(b"ZADD", key, 1, b"one", i, b"two")
    else:
        yield resp(b"XADD", key, b"*", b"f", i)
    if i % 3 == 0:
        yield resp(b"PEXPIRE", key, 3600000 + i)
    return key


def main():
    n, prefix, outdir = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
    owner = [0] * 16384
    for shard, spec in enumerate(sys.argv[4:]):
        for r in spec.split(","):
            lo, hi = (int(x) for x in r.split("-"))
            for s in range(lo, hi + 1):
                owner[s] = shard
    files = [open("%s/shard%d.resp" % (outdir, k), "wb") for k in range(len(sys.argv) - 4)]
    for i in range(n):
        cmds = list(commands(i, prefix))
        key = cmds[0].split(b"\r\n")[4]
        files[owner[slot(key)]].write(b"".join(cmds))
    for f in files:
        f.close()


if __name__ == "__main__":
    main()
