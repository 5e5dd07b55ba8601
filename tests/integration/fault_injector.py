"""A fault injector (not a server): a plain-HTTP relay on loopback in front of
the real kube-apiserver. It forwards every request upstream with the admin
client certificate and relays the answer, except that on watch responses it
can apply one planned fault -- the faults the real API server cannot be made
to produce: a torn line, garbage bytes, a stalled connection, an oversized
line, or an inflated (multi-megabyte) but valid event.

Used in-process by tests: FaultInjector(cluster).start(); .plan(kind, after=N).
Every watch request's query is recorded in .watches.
"""
import http.client
import http.server
import json
import queue
import socket
import ssl
import threading
import urllib.parse


class FaultInjector:
    def __init__(self, cluster):
        self.upstream = urllib.parse.urlparse(cluster.url)
        pki = cluster.dir + "/pki"
        ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
        ctx.load_cert_chain(pki + "/admin.crt", pki + "/admin.key")
        self.ctx = ctx
        self.faults = queue.Queue()
        self.watches = []        # parsed query dicts of each watch request
        self.applied = []        # faults applied, in order
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.hold = False        # while True, watch requests get 503 + Retry-After: 1
        self.refuse_stream = False  # while True, streaming lists (sendInitialEvents) get 422
        inj = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                inj._handle(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self):
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()

    def plan(self, kind, after=0, size=0):
        """Queues a fault for the next watch request: after `after` object
        events have been relayed on it."""
        self.faults.put({"kind": kind, "after": after, "size": size})

    def kubeconfig(self, path):
        with open(path, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
clusters: [{{name: inj, cluster: {{server: "{self.url}"}}}}]
users: [{{name: anon, user: {{}}}}]
contexts: [{{name: inj, context: {{cluster: inj, user: anon}}}}]
current-context: inj
""")
        return path

    # --- relay ---
    def _upstream(self):
        return http.client.HTTPSConnection(self.upstream.hostname, self.upstream.port, context=self.ctx, timeout=700)

    def _handle(self, h):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(h.path).query)
        is_watch = q.get("watch", ["false"])[0] == "true"
        if is_watch:
            with self.lock:
                self.watches.append({k: v[0] for k, v in q.items()})
        if is_watch and self.refuse_stream and q.get("sendInitialEvents") == ["true"]:
            body = b'{"kind":"Status","apiVersion":"v1","status":"Failure","message":"sendInitialEvents is forbidden (fault injector)","reason":"Invalid","code":422}'
            h.send_response(422)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        if is_watch and self.hold:
            body = b'{"kind":"Status","apiVersion":"v1","status":"Failure","message":"held by the fault injector","code":503}'
            h.send_response(503)
            h.send_header("Retry-After", "1")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        conn = self._upstream()
        conn.request("GET", h.path, headers={"Accept": "application/json"})
        resp = conn.getresponse()
        if not is_watch or resp.status != 200:
            body = resp.read()
            h.send_response(resp.status)
            h.send_header("Content-Type", resp.getheader("Content-Type", "application/json"))
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            conn.close()
            return
        try:
            fault = self.faults.get_nowait()
        except queue.Empty:
            fault = None
        if fault and fault["kind"] == "429":
            self.applied.append("429")
            conn.close()
            body = b'{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too many requests (fault injector)","reason":"TooManyRequests","code":429}'
            h.send_response(429)
            h.send_header("Retry-After", str(fault["size"] or 2))
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()

        def chunk(b):
            h.wfile.write(b"%x\r\n" % len(b) + b + b"\r\n")
            h.wfile.flush()

        def end_clean():
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()

        relayed = 0
        try:
            while not self.stop_event.is_set():
                line = resp.readline()
                if not line:
                    end_clean()
                    break
                is_object = b'"type":"BOOKMARK"' not in line[:40]
                if fault and is_object and relayed >= fault["after"]:
                    self.applied.append(fault["kind"])
                    if self._apply(fault, line, chunk, end_clean, h):
                        break
                    fault = None
                    continue
                chunk(line)
                if is_object:
                    relayed += 1
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            pass
        finally:
            conn.close()
            h.close_connection = True

    def _apply(self, fault, line, chunk, end_clean, h):
        """Applies the fault to `line` (the next real event). Returns True if
        the response is over."""
        k = fault["kind"]
        if k == "torn":
            chunk(line[: len(line) // 2])   # half an event, then a clean end
            end_clean()
            return True
        if k == "reset":
            chunk(line[: len(line) // 3])   # part of an event, then the socket dies
            h.connection.shutdown(socket.SHUT_RDWR)
            return True
        if k == "garbage":
            chunk(b"\x00\xff{not json at all\n")
            chunk(line)
            return False
        if k == "stall":
            chunk(line[:10])                # a few bytes, then nothing at all
            self.stop_event.wait(600)
            return True
        if k == "oversize":
            chunk(b'{"type":"MODIFIED","object":{"pad":"' + b"x" * fault["size"] + b'"}}\n')
            chunk(line)
            return False
        if k == "inflate":
            ev = json.loads(line)
            ev["object"].setdefault("status", {})["padding"] = "p" * fault["size"]
            chunk(json.dumps(ev, separators=(",", ":")).encode() + b"\n")
            return False
        raise ValueError(k)
