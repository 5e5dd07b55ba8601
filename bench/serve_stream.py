#!/usr/bin/env python3
"""serve_stream.py STREAM_FILE LOG: a loopback stand-in for the API server.

Listens on 127.0.0.1 on a free port and prints the port on stdout. The first
GET with watch=true in its query gets STREAM_FILE whole (Content-Length,
sendfile, then the connection closes); every later watch is answered with
headers and then held open without data until the client goes away, so a
client that re-watches after the end of the stream does not get it twice.
Any other GET gets an empty WorkflowList. Each request is appended to LOG as
"<time.monotonic()> <watch number or 0> <path>", flushed at once: a second
watch line means the client has consumed the whole stream.
"""
import http.server
import os
import sys
import threading
import time

EMPTY_LIST = b'{"kind":"WorkflowList","apiVersion":"argoproj.io/v1alpha1","metadata":{"resourceVersion":"1"},"items":[]}'


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    watches = 0
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def note(self, n):
        with self.lock, open(self.server.log, "a") as f:
            f.write(f"{time.monotonic():.6f} {n} {self.path}\n")

    def do_GET(self):
        query = self.path.partition("?")[2].split("&")
        if "watch=true" not in query and "watch=1" not in query:
            self.note(0)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(EMPTY_LIST)))
            self.end_headers()
            self.wfile.write(EMPTY_LIST)
            return
        with self.lock:
            Handler.watches += 1
            n = Handler.watches
        self.note(n)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if n == 1:
            size = os.path.getsize(self.server.stream)
            self.send_header("Content-Length", str(size))
            self.send_header("Connection", "close")
            self.end_headers()
            with open(self.server.stream, "rb") as f:
                self.connection.sendfile(f)
            self.close_connection = True
        else:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while self.connection.recv(4096):  # until the client closes
                pass
            self.close_connection = True


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.stream, srv.log = sys.argv[1], sys.argv[2]
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
