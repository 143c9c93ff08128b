#!/usr/bin/env python3
"""A webhook for test_notify.sh to post to: writes its port to PORT_FILE
and records what it gets, in order: every attempt as "N STATUS BODY" in
LOG.attempts, and each body it accepted (200) as one line of LOG, the
path of every request in LOG.paths.

MODE is 'ok' (200 to everything), 'fail-first' (500 to the first request,
then 200) or 'hang' (accepts, records the attempt, never answers)."""
import http.server
import os
import sys
import threading

port_file, log, mode = sys.argv[1], sys.argv[2], sys.argv[3]
lock = threading.Lock()
count = 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        line = body.decode("utf-8", "replace").replace("\n", " ")
        with lock:
            count += 1
            status = 500 if mode == "fail-first" and count == 1 else 200
            if mode == "hang":
                status = 0
            with open(log + ".paths", "a") as f:
                f.write(self.path + "\n")
            with open(log + ".attempts", "a") as f:
                f.write(f"{count} {status} {line}\n")
            if status == 200:
                with open(log, "a") as f:
                    f.write(line + "\n")
        if mode == "hang":
            threading.Event().wait()
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
