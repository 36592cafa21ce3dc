#!/usr/bin/env python3
"""A reverse proxy that makes a loopback registry behave like a remote one, and measures what clients ask of it.

Every request waits --latency-ms before it is forwarded (one round trip's worth), then is answered with the upstream's
response. A TLS handshake sent to it (a client probing for HTTPS) waits the same time and is answered 400, as Go's HTTP
server answers one, so probing costs a client what it costs against a remote plain-HTTP registry.

For each request it records when it arrived and when its response was written, and reports, since the last reset:
  requests  HTTP requests answered (TLS probes not included)
  probes    TLS handshakes answered 400
  depth     the sequential depth: the length of the longest chain of round trips (requests and probes) in which each
            one arrived after the previous one's response was written. With every round trip costing the same,
            an operation takes about depth x latency, however many requests it sends side by side.
            (The same definition as MultiArch.Build.Tasks.Tests/Infrastructure/RoundTrips.cs.)

Control (never delayed or counted): GET /_bench/reset, GET /_bench/stats (JSON), GET /_bench/log (one line per request).

  latency-proxy.py --upstream 127.0.0.1:5000 [--port 0] [--latency-ms 25] [--port-file FILE]
"""
import argparse, http.client, http.server, json, socket, sys, threading, time

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "expect"}


class Record:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []  # (start, end, kind, text)

    def add(self, start, end, kind, text):
        with self.lock:
            self.items.append((start, end, kind, text))

    def reset(self):
        with self.lock:
            self.items = []

    def snapshot(self):
        with self.lock:
            return list(self.items)


def sequential_depth(items):
    """Longest chain a1..ak with a(i).end <= a(i+1).start (O(n^2); runs are a few hundred requests)."""
    ordered = sorted(items, key=lambda r: r[0])
    depth = []
    for i, (start, _, _, _) in enumerate(ordered):
        best = 0
        for j in range(i):
            if ordered[j][1] <= start and depth[j] > best:
                best = depth[j]
        depth.append(best + 1)
    return max(depth, default=0)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm the body would wait for the client's delayed
    # ACK (40 ms on Linux), a delay no real registry adds.
    disable_nagle_algorithm = True
    server_version = "latency-proxy"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def handle_one_request(self):
        try:
            first = self.rfile.peek(1)[:1]
        except (OSError, ValueError):
            self.close_connection = True
            return
        if first == b"\x16":
            # A TLS ClientHello on a plain-HTTP port: a client probing for HTTPS.
            start = time.monotonic()
            time.sleep(self.server.latency)
            try:
                self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request")
                self.wfile.flush()
            except OSError:
                pass
            self.server.record.add(start, time.monotonic(), "probe", "TLS handshake -> 400")
            self.close_connection = True
            return
        super().handle_one_request()

    def do_GET(self): self.proxy()
    def do_HEAD(self): self.proxy()
    def do_POST(self): self.proxy()
    def do_PUT(self): self.proxy()
    def do_PATCH(self): self.proxy()
    def do_DELETE(self): self.proxy()

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def control(self):
        record = self.server.record
        if self.path == "/_bench/reset":
            record.reset()
            body = b"{}"
        elif self.path == "/_bench/stats":
            items = record.snapshot()
            body = json.dumps({
                "requests": sum(1 for r in items if r[2] == "http"),
                "probes": sum(1 for r in items if r[2] == "probe"),
                "depth": sequential_depth(items),
            }).encode()
        else:
            items = record.snapshot()
            origin = min((r[0] for r in items), default=0)
            body = "".join(f"{(r[0] - origin) * 1000:8.1f} {(r[1] - origin) * 1000:8.1f}  {r[3]}\n" for r in sorted(items)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def upstream(self):
        local = self.server.local
        if getattr(local, "conn", None) is None:
            local.conn = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port, timeout=120)
        return local.conn

    def proxy(self):
        if self.path.startswith("/_bench/"):
            return self.control()
        start = time.monotonic()
        body = self.read_body()
        # Repeated headers (Go clients send one Accept line per media type) are forwarded one by one.
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
        if body is not None:
            headers.append(("Content-Length", str(len(body))))
        elif self.command in ("POST", "PUT", "PATCH"):
            headers.append(("Content-Length", "0"))
        time.sleep(self.server.latency)
        for attempt in (1, 2):
            conn = self.upstream()
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.endheaders(body)
                response = conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                self.server.local.conn = None
                if attempt == 2:
                    self.send_error(502)
                    self.server.record.add(start, time.monotonic(), "http", f"{self.command} {self.path} -> 502 (upstream failed)")
                    return
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        length = response.getheader("Content-Length")
        self.send_header("Content-Length", length if self.command == "HEAD" and length is not None else str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)
        self.wfile.flush()
        self.server.record.add(start, time.monotonic(), "http", f"{self.command} {self.path} -> {response.status}")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="host:port of the registry (plain HTTP)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=25)
    parser.add_argument("--port-file", help="write the port chosen here once listening")
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    server.upstream_host, port = args.upstream.rsplit(":", 1)
    server.upstream_port = int(port)
    server.latency = args.latency_ms / 1000.0
    server.record = Record()
    server.local = threading.local()
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(str(server.server_address[1]))
    print(f"listening on 127.0.0.1:{server.server_address[1]} -> {args.upstream}, {args.latency_ms:g} ms a request", file=sys.stderr)
    server.serve_forever()


if __name__ == "__main__":
    main()
