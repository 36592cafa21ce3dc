#!/usr/bin/env python3
"""A check of eng/latency-proxy.py, run by hand (not a test of the suite): starts the proxy in front of a small stub
upstream on loopback and checks that it measures depth right and forwards what a registry client sends.

  depth     N requests side by side measure 1 deep, with 60 too; a chain of k requests (each sent when the previous
            answer is in, on one kept-alive connection or on new ones) measures k; 60 side by side then one more, 2
  forwards  repeated headers one by one, Host as sent; HEAD with the upstream's Content-Length and no body; PATCH with
            a chunked body and PUT with a length (the upstream gets the whole body with a Content-Length), 202/201 and
            their Location headers; an upstream's chunked answer; a 307 and its Location passed through; Expect:
            100-continue; keep-alive (one client connection for several requests)
  probes    a TLS ClientHello is answered 400 after the latency and counted as a probe, not a request
  control   /_bench/reset, /_bench/stats, /_bench/log and /_bench/chain, never delayed or counted

  eng/latency-proxy-check.py [--proxy eng/latency-proxy.py] [--latency-ms 50]

--proxy runs another proxy script with the same command line (e.g. an earlier commit's, to see the check fail). Prints
one line per check and "N passed, N failed"; exits 1 when any failed.
"""
import argparse, asyncio, http.client, http.server, json, os, socket, subprocess, sys, tempfile, threading, time

here = os.path.dirname(os.path.abspath(__file__))


class Stub(http.server.BaseHTTPRequestHandler):
    """The upstream: echoes what it received as JSON, or answers as a registry would for a few fixed paths."""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body=b"", headers=(), chunked=False):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 7):
                piece = body[i:i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        echo = json.dumps({
            "method": self.command, "path": self.path, "headers": list(self.headers.items()),
            "body": body.decode("latin-1"), "chunked": self.headers.get("Transfer-Encoding")}).encode()
        if self.path.startswith("/upload"):
            self.answer(202 if self.command == "PATCH" else 201, echo,
                        [("Location", "/v2/r/blobs/uploads/abc?_state=xyz"), ("Range", f"0-{max(length - 1, 0)}")])
        elif self.path == "/chunked":
            self.answer(200, b"a body sent in chunks of seven bytes", chunked=True)
        elif self.path == "/redirect":
            self.answer(307, b"", [("Location", "http://127.0.0.1:1/elsewhere")])
        elif self.path == "/head":
            self.answer(200, b"x" * 1234, [("Docker-Content-Digest", "sha256:0")])
        else:
            self.answer(200, echo)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class StubServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256   # 60 connections at once, as a Go registry's listen backlog takes them


class Check:
    def __init__(self, port, latency):
        self.port, self.latency = port, latency
        self.passed = self.failed = 0

    def expect(self, name, ok, detail=""):
        print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + detail}")
        if ok:
            self.passed += 1
        else:
            self.failed += 1

    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def get(self, path, conn=None):
        conn = conn or self.connection()
        conn.request("GET", path)
        response = conn.getresponse()
        return response, response.read()

    def stats(self):
        return json.loads(self.get("/_bench/stats")[1])

    def reset(self):
        self.get("/_bench/reset")

    async def side_by_side(self, n, path="/v2/x"):
        """n requests on n connections, every connection open before the first request is written."""
        streams = [await asyncio.open_connection("127.0.0.1", self.port) for _ in range(n)]
        for i, (_, writer) in enumerate(streams):
            writer.write(f"GET {path}/{i} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode())
        for _, writer in streams:
            await writer.drain()
        statuses = []
        for reader, writer in streams:
            statuses.append((await reader.readline()).split()[1])
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            writer.close()
        return statuses

    def depth_after(self, name, expected, action, requests):
        self.reset()
        action()
        stats = self.stats()
        log = self.get("/_bench/log")[1].decode()
        self.expect(f"{name}: depth {expected}", stats["depth"] == expected and stats["requests"] == requests,
                    f"stats {stats}, expected depth {expected} and {requests} requests; log:\n{log}")

    def depth(self):
        for n in (1, 10, 60):
            self.depth_after(f"{n} side by side", 1, lambda n=n: asyncio.run(self.side_by_side(n)), n)
        times = [tuple(map(float, line.split()[:2])) for line in self.get("/_bench/log")[1].decode().splitlines()]
        print(f"     (60 side by side: arrivals within {max(t[0] for t in times):.1f} ms, the first answer written at "
              f"{min(t[1] for t in times):.1f} ms, the last at {max(t[1] for t in times):.1f} ms)")

        def chain_kept_alive():
            conn = self.connection()
            for i in range(5):
                self.get(f"/v2/chain/{i}", conn)
        self.depth_after("a chain of 5 on one connection", 5, chain_kept_alive, 5)
        chain = self.get("/_bench/chain")[1].decode().splitlines()
        self.expect("/_bench/chain lists the 5 in order", [line.split()[-3] for line in chain] == [f"/v2/chain/{i}" for i in range(5)],
                    "\n".join(chain))

        def chain_new_connections():
            for i in range(3):
                self.get(f"/v2/chain/{i}")
        self.depth_after("a chain of 3 on new connections", 3, chain_new_connections, 3)

        def wide_then_one():
            asyncio.run(self.side_by_side(60))
            self.get("/v2/after")
        self.depth_after("60 side by side, then one", 2, wide_then_one, 61)

    def forwarding(self):
        self.reset()
        conn = self.connection()
        conn.putrequest("GET", "/v2/echo", skip_accept_encoding=True)
        conn.putheader("Accept", "application/vnd.oci.image.index.v1+json")
        conn.putheader("Accept", "application/vnd.docker.distribution.manifest.list.v2+json")
        conn.putheader("Connection", "keep-alive")
        conn.endheaders()
        response = conn.getresponse()
        echo = json.loads(response.read())
        accepts = [v for k, v in echo["headers"] if k.lower() == "accept"]
        self.expect("repeated headers forwarded one by one", len(accepts) == 2, str(echo["headers"]))
        self.expect("Host forwarded as sent, hop-by-hop headers not",
                    ("Host", f"127.0.0.1:{self.port}") in [tuple(h) for h in echo["headers"]]
                    and not any(k.lower() == "connection" for k, _ in echo["headers"]), str(echo["headers"]))
        first_socket = conn.sock

        conn.request("HEAD", "/head")
        response = conn.getresponse()
        body = response.read()
        self.expect("HEAD: the upstream's Content-Length, no body",
                    response.status == 200 and response.getheader("Content-Length") == "1234" and body == b""
                    and response.getheader("Docker-Content-Digest") == "sha256:0", f"{response.status} {response.getheaders()}")

        conn.request("PATCH", "/upload/1", body=iter([b"chunk one;", b"chunk two"]), encode_chunked=True,
                     headers={"Content-Type": "application/octet-stream"})
        response = conn.getresponse()
        echo = json.loads(response.read())
        self.expect("PATCH with a chunked body: 202, Location passed, whole body upstream with a length",
                    response.status == 202 and response.getheader("Location") == "/v2/r/blobs/uploads/abc?_state=xyz"
                    and echo["body"] == "chunk one;chunk two" and echo["chunked"] is None
                    and ("Content-Length", "19") in [tuple(h) for h in echo["headers"]],
                    f"{response.status} {response.getheaders()} {echo}")

        conn.request("PUT", "/upload/2?digest=sha256:1", body=b"0123456789")
        response = conn.getresponse()
        echo = json.loads(response.read())
        self.expect("PUT with a body: 201, Location passed", response.status == 201 and echo["body"] == "0123456789"
                    and response.getheader("Location") is not None, f"{response.status} {echo}")

        conn.request("POST", "/upload/3")
        response = conn.getresponse()
        echo = json.loads(response.read())
        self.expect("POST without a body: Content-Length 0 upstream",
                    ("Content-Length", "0") in [tuple(h) for h in echo["headers"]], str(echo["headers"]))

        response, body = self.get("/chunked", conn)
        self.expect("an upstream's chunked answer arrives whole, with a length",
                    body == b"a body sent in chunks of seven bytes" and response.getheader("Content-Length") == str(len(body))
                    and response.getheader("Transfer-Encoding") is None, f"{body!r} {response.getheaders()}")

        response, _ = self.get("/redirect", conn)
        self.expect("a redirect passed through", response.status == 307
                    and response.getheader("Location") == "http://127.0.0.1:1/elsewhere", str(response.getheaders()))
        self.expect("keep-alive: one client connection for all of these", conn.sock is first_socket)

        conn.request("PUT", "/upload/4", body=b"after continue", headers={"Expect": "100-continue"})
        response = conn.getresponse()
        echo = json.loads(response.read())
        self.expect("Expect: 100-continue", response.status == 201 and echo["body"] == "after continue", str(echo))

        stats = self.stats()
        self.expect("every request counted", stats["requests"] == 8 and stats["probes"] == 0, str(stats))

    def probe(self):
        self.reset()
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(b"\x16\x03\x01\x00\x05hello")
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
        took = time.monotonic() - start
        self.expect("a TLS probe is answered 400 after the latency",
                    answer.startswith(b"HTTP/1.1 400 ") and took >= self.latency * 0.9, f"{answer!r} after {took:.3f} s")
        stats = self.stats()
        self.expect("a probe counts as a probe, not a request", stats["probes"] == 1 and stats["requests"] == 0
                    and stats["depth"] == 1, str(stats))

    def control(self):
        self.reset()
        self.get("/v2/one")
        start = time.monotonic()
        response, body = self.get("/_bench/stats")
        stats_time = time.monotonic() - start
        keys = list(json.loads(body))
        self.expect("stats is JSON with requests, probes, depth", keys == ["requests", "probes", "depth"], str(keys))
        self.expect("control is not delayed", stats_time < self.latency, f"{stats_time:.3f} s")
        log = self.get("/_bench/log")[1].decode().splitlines()
        self.expect("log: one line per request", len(log) == 1 and log[0].endswith("GET /v2/one -> 200"), str(log))
        response, body = self.get("/_bench/reset")
        self.expect("reset answers {} and empties the record", body == b"{}" and self.stats()["requests"] == 0)
        start = time.monotonic()
        self.get("/v2/timed")
        took = time.monotonic() - start
        self.expect("a request waits the latency", took >= self.latency * 0.9, f"{took:.3f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--proxy", default=os.path.join(here, "latency-proxy.py"))
    parser.add_argument("--latency-ms", type=float, default=50)
    args = parser.parse_args()
    upstream = StubServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as work:
        port_file = os.path.join(work, "port")
        proxy = subprocess.Popen([sys.executable, args.proxy, "--upstream", f"127.0.0.1:{upstream.server_address[1]}",
                                  "--latency-ms", str(args.latency_ms), "--port-file", port_file], stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                if os.path.exists(port_file) and open(port_file).read():
                    break
                time.sleep(0.05)
            check = Check(int(open(port_file).read()), args.latency_ms / 1000.0)
            for part in (check.depth, check.forwarding, check.probe, check.control):
                try:
                    began = time.monotonic()
                    part()
                    print(f"     ({part.__name__}: {time.monotonic() - began:.1f} s)")
                except Exception as e:   # a part that breaks is one failure; the others still run
                    check.expect(part.__name__, False, repr(e))
        finally:
            proxy.terminate()
            proxy.wait()
            upstream.shutdown()
    print(f"{check.passed} passed, {check.failed} failed")
    sys.exit(1 if check.failed else 0)


if __name__ == "__main__":
    main()
