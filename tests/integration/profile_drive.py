#!/usr/bin/env python3
"""Write RESP files that drive a known command mix at a Redis Cluster, one
per node, for 'redis-cli --pipe': 'profile_drive.py PHASE PORT OUTDIR'
reads the cluster's layout from the node at PORT (CLUSTER NODES) and
writes OUTDIR/<port>.resp for every node that gets commands.

PHASE 'preload': 500 strings pf:s:<i> of 100 bytes (before CONFIG
RESETSTAT, so they are not in the mix).
PHASE 'mix': 6000 commands, 30% HGET, 30% HSET, 30% GET, 10% LPUSH; a
third of the GETs go to the replicas (after READONLY), the rest to the
primaries. Command n (n % 10 picks it) of HSET writes a 40-byte value to
field f<(n // 300) % 8> of pf:h:<n % 300> (90 hashes of 8 fields), of
LPUSH a 20-byte element to pf:l:<n % 50> (5 lists of 120).
Used by tests/integration/test_profile.sh."""
import importlib.util
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("stage_data", os.path.join(here, "stage_data.py"))
stage_data = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stage_data)
slot, resp = stage_data.slot, stage_data.resp


def layout(port):
    """(primaries, replicas): lists of (port, [(lo, hi)...])."""
    out = subprocess.run(["redis-cli", "-p", str(port), "cluster", "nodes"],
                         capture_output=True, text=True, check=True).stdout
    ranges, prim, repl = {}, [], []
    for line in out.splitlines():
        f = line.split()
        p = int(f[1].split("@")[0].split(":")[1])
        if "master" in f[2]:
            rs = []
            for r in f[8:]:
                if r.startswith("["):
                    continue
                lo, _, hi = r.partition("-")
                rs.append((int(lo), int(hi or lo)))
            ranges[f[0]] = rs
            prim.append((p, f[0]))
        else:
            repl.append((p, f[3]))
    return ([(p, ranges[i]) for p, i in prim], [(p, ranges[m]) for p, m in repl])


def owner(nodes, key):
    s = slot(key)
    for p, rs in nodes:
        if any(lo <= s <= hi for lo, hi in rs):
            return p
    raise SystemExit("no node owns slot %d" % s)


def commands(phase):
    """(key, where, command) with where 'p' (primary) or 'r' (replica)."""
    if phase == "preload":
        for i in range(500):
            k = b"pf:s:%d" % i
            yield k, "p", resp(b"SET", k, b"v" * 100)
        return
    for n in range(6000):
        c = n % 10
        h, s, lk = b"pf:h:%d" % (n % 300), b"pf:s:%d" % (n % 500), b"pf:l:%d" % (n % 50)
        if c < 3:
            yield h, "p", resp(b"HGET", h, b"f%d" % (n % 6))
        elif c < 6:
            yield h, "p", resp(b"HSET", h, b"f%d" % ((n // 300) % 8), b"x" * 40)
        elif c < 8:
            yield s, "p", resp(b"GET", s)
        elif c < 9:
            yield s, "r", resp(b"GET", s)
        else:
            yield lk, "p", resp(b"LPUSH", lk, b"e" * 20)


def main():
    phase, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    prim, repl = layout(port)
    files = {}
    for key, where, cmd in commands(phase):
        nodes = prim if where == "p" or not repl else repl
        p = owner(nodes, key)
        if p not in files:
            files[p] = open(os.path.join(outdir, "%d.resp" % p), "wb")
            if where == "r":
                files[p].write(resp(b"READONLY"))
        files[p].write(cmd)
    for f in files.values():
        f.close()


main()
