#!/usr/bin/env python3
"""A client writing unique keys to etcd until SIGTERM, for the tests and
the benchmark: PREFIX000001, PREFIX000002... one put every INTERVAL
seconds through etcd's JSON gateway (/v3/kv/put). Each acknowledged put
(HTTP 200 with a header) is appended to OUT as "KEY EPOCH-MS" and flushed
at once, so whatever OUT lists was acknowledged. A put that fails or times
out (1 s) is tried again with the same key on the next endpoint: only
acknowledgements count, a key may exist without one.

Usage: writer.py ENDPOINTS OUT PREFIX [INTERVAL]
  ENDPOINTS  http://127.0.0.1:P,http://127.0.0.1:Q,...
"""
import base64
import json
import signal
import sys
import time
import urllib.request

stop = False


def on_term(_sig, _frame):
    global stop
    stop = True


def b64(s):
    return base64.b64encode(s.encode()).decode()


def main():
    endpoints = sys.argv[1].split(",")
    out = open(sys.argv[2], "a", buffering=1)
    prefix = sys.argv[3]
    interval = float(sys.argv[4]) if len(sys.argv) > 4 else 0.01
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    seq, at = 1, 0
    while not stop:
        key = "%s%06d" % (prefix, seq)
        body = json.dumps({"key": b64(key), "value": b64("v%d" % seq)}).encode()
        req = urllib.request.Request(endpoints[at] + "/v3/kv/put", data=body,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=1) as r:
                doc = json.loads(r.read() or b"{}")
            if "header" not in doc:
                raise ValueError("no header: %r" % doc)
            out.write("%s %d\n" % (key, int(time.time() * 1000)))
            seq += 1
        except Exception:  # refused, timed out, no leader: next endpoint
            at = (at + 1) % len(endpoints)
        time.sleep(interval)
    out.close()


if __name__ == "__main__":
    main()
