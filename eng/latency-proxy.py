#!/usr/bin/env python3
"""A reverse proxy that makes a loopback registry behave like a remote one, and measures what clients ask of it.

Every request is forwarded --latency-ms after it arrived (one round trip's worth; the proxy's own work counts in it), then
is answered with the upstream's response. A TLS handshake sent to it (a client probing for HTTPS) waits the same time
and is answered 400, as Go's HTTP server answers one, so probing costs a client what it costs against a remote
plain-HTTP registry.

For each request it records when it arrived (the kernel's receive time of its first byte) and when the last of its
response was handed to the kernel, and reports, since the last reset:
  requests  HTTP requests answered (TLS probes not included)
  probes    TLS handshakes answered 400
  depth     the sequential depth: the length of the longest chain of round trips (requests and probes) in which each
            one arrived after the previous one's response was written. With every round trip costing the same,
            an operation takes about depth x latency, however many requests it sends side by side.
            (The same definition as MultiArch.Build.Tasks.Tests/Infrastructure/RoundTrips.cs.)

Control (never delayed or counted): GET /_bench/reset, GET /_bench/stats (JSON), GET /_bench/log (one line per request:
arrival and end in ms, request -> status), GET /_bench/chain (the same lines for one longest chain).

One asyncio event loop serves every connection: a request costs the proxy a few parsing steps and a timer, so requests
sent side by side stay side by side (eng/latency-proxy-check.py checks that 60 of them measure 1 deep). Bodies both ways
are read whole (chunked or with a length) and sent on with a Content-Length; upstream connections are kept alive and
reused, one per request in flight.

  latency-proxy.py --upstream 127.0.0.1:5000 [--port 0] [--latency-ms 25] [--port-file FILE]
"""
import argparse, asyncio, json, socket, struct, sys, time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)   # Linux; Python does not name it
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "expect"}
TLS_PROBE = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"
BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Gateway"


class BadMessage(Exception):
    """A message that is not HTTP/1.x as this proxy reads it."""


def longest_chain(items):
    """One longest chain a1..ak with a(i).end <= a(i+1).start, first first (O(n^2); runs are a few hundred requests)."""
    ordered = sorted(items, key=lambda r: r[0])
    depth, previous = [], []
    for i, (start, _, _, _) in enumerate(ordered):
        best, before = 0, -1
        for j in range(i):
            if ordered[j][1] <= start and depth[j] > best:
                best, before = depth[j], j
        depth.append(best + 1)
        previous.append(before)
    chain = []
    at = max(range(len(ordered)), key=lambda i: depth[i], default=-1)
    while at >= 0:
        chain.append(ordered[at])
        at = previous[at]
    return chain[::-1]


def no_delay(writer):
    # Without Nagle's algorithm: no write waits for the peer's delayed ACK (40 ms on Linux), a delay no registry adds.
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def read_headers(reader):
    """[(name, value), ...] up to the blank line, repeated names kept in order."""
    headers = []
    while True:
        line = await reader.readline()
        if not line:
            raise BadMessage("connection closed in the headers")
        if line in (b"\r\n", b"\n"):
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise BadMessage(f"not a header line: {line[:80]!r}")
        headers.append((name.strip(), value.strip()))


def header(headers, name):
    name = name.lower()
    return next((v for k, v in headers if k.lower() == name), None)


async def read_body(reader, headers):
    """The body a Transfer-Encoding: chunked or Content-Length announces, or None when neither does."""
    if (header(headers, "Transfer-Encoding") or "").lower() == "chunked":
        chunks = []
        while True:
            line = await reader.readline()
            if not line:
                raise BadMessage("connection closed in a chunked body")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass   # trailers
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readline()
    length = header(headers, "Content-Length")
    if length is not None and int(length) > 0:
        return await reader.readexactly(int(length))
    return None


class Client:
    """A client connection that knows when its bytes reached this machine: the kernel's receive time of each read
    (SO_TIMESTAMPNS), so that a request's arrival is not moved by the time the event loop took to get to it."""

    def __init__(self, sock):
        self.sock, self.loop = sock, asyncio.get_running_loop()
        self.buffer = bytearray()
        self.stamp = None   # when the oldest byte in the buffer arrived (time.monotonic())

    async def receive(self):
        """Reads what has arrived into the buffer; False at the end of the connection."""
        while True:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(65536, 64)
                break
            except BlockingIOError:
                await self.ready(self.loop.add_reader, self.loop.remove_reader)
        if not self.buffer:
            self.stamp = time.monotonic()
            for level, kind, raw in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
                    seconds, nanoseconds = struct.unpack("qq", raw[:16])
                    self.stamp = min(self.stamp, seconds + nanoseconds / 1e9 - time.time() + time.monotonic())
        self.buffer += data
        return bool(data)

    async def first_byte(self):
        """(the next byte, when it arrived), or (b"", None) at the end of the connection."""
        if not self.buffer and not await self.receive():
            return b"", None
        first = bytes(self.buffer[:1])
        del self.buffer[:1]
        return first, self.stamp

    async def readline(self):
        while (end := self.buffer.find(b"\n")) < 0:
            if len(self.buffer) > 65536:
                raise BadMessage("a line longer than 64 KiB")
            if not await self.receive():
                end = len(self.buffer) - 1
                break
        line = bytes(self.buffer[:end + 1])
        del self.buffer[:end + 1]
        return line

    async def readexactly(self, n):
        while len(self.buffer) < n:
            if not await self.receive():
                raise BadMessage("connection closed in a body")
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    async def send(self, data):
        """Sends data and returns when its last part was handed to the kernel: the earliest the client can have it all
        (a time taken after the send could be later than the client's next request)."""
        view = memoryview(data)
        while True:
            handed = time.monotonic()
            try:
                view = view[self.sock.send(view):]
            except BlockingIOError:
                pass
            if not view:
                return handed
            await self.ready(self.loop.add_writer, self.loop.remove_writer)

    async def ready(self, add, remove):
        ready = self.loop.create_future()
        add(self.sock.fileno(), lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            remove(self.sock.fileno())


class Upstream:
    """Keep-alive connections to the registry: one per request in flight, idle ones reused."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.idle = []

    async def exchange(self, request, method):
        """Sends request (bytes) and returns (status, reason, headers, body); retries once on a fresh connection."""
        for attempt in (1, 2):
            reused = False
            while attempt == 1 and self.idle:
                reader, writer = self.idle.pop()
                if not reader.at_eof() and not writer.is_closing():
                    reused = True
                    break
                writer.close()
            if not reused:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                no_delay(writer)
            try:
                writer.write(request)
                await writer.drain()
                status, reason, headers, body, keep = await self.read_response(reader, method)
            except (OSError, EOFError, asyncio.IncompleteReadError, BadMessage, ValueError):
                writer.close()
                if attempt == 2:
                    raise
                continue
            if keep:
                self.idle.append((reader, writer))
            else:
                writer.close()
            return status, reason, headers, body

    @staticmethod
    async def read_response(reader, method):
        while True:
            line = await reader.readline()
            if not line:
                raise BadMessage("upstream closed the connection")
            version, status, reason = (line.decode("latin-1").rstrip("\r\n").split(" ", 2) + [""])[:3]
            status = int(status)
            headers = await read_headers(reader)
            if status >= 200 or status == 101:
                break   # a 1xx interim response is skipped
        keep = version == "HTTP/1.1" and (header(headers, "Connection") or "").lower() != "close"
        if method == "HEAD" or status in (204, 304):
            return status, reason, headers, b"", keep
        if header(headers, "Content-Length") is None and (header(headers, "Transfer-Encoding") or "").lower() != "chunked":
            return status, reason, headers, await reader.read(), False   # delimited by the end of the connection
        return status, reason, headers, await read_body(reader, headers) or b"", keep


class Proxy:
    def __init__(self, upstream, latency):
        self.upstream = upstream
        self.latency = latency
        self.items = []   # (start, end, kind, text)

    async def serve(self, sock):
        try:
            client = Client(sock)
            while await self.one(client):
                pass
        except (OSError, EOFError, asyncio.IncompleteReadError, BadMessage, ValueError):
            pass
        finally:
            sock.close()

    async def one(self, client):
        """Answers one request (or TLS probe) on a client connection; False when the connection is done."""
        first, start = await client.first_byte()   # start: when it arrived, before anything else is read
        if not first:
            return False
        if first == b"\x16":
            # A TLS ClientHello on a plain-HTTP port: a client probing for HTTPS.
            await self.wait_from(start)
            self.items.append((start, await client.send(TLS_PROBE), "probe", "TLS handshake -> 400"))
            return False
        line = first + await client.readline()
        if line in (b"\r\n", b"\n"):
            return True   # a stray line end between requests
        method, path, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers = await read_headers(client)
        if (header(headers, "Expect") or "").lower() == "100-continue" and version == "HTTP/1.1":
            await client.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await read_body(client, headers)
        connection = (header(headers, "Connection") or "").lower()
        keep = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
        if path.startswith("/_bench/"):
            await client.send(self.control(path))
            return keep

        # Repeated headers (Go clients send one Accept line per media type) are forwarded one by one.
        out = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
        if body is not None:
            out.append(("Content-Length", str(len(body))))
        elif method in ("POST", "PUT", "PATCH"):
            out.append(("Content-Length", "0"))
        request = "".join([f"{method} {path} HTTP/1.1\r\n"] + [f"{k}: {v}\r\n" for k, v in out] + ["\r\n"]).encode("latin-1")
        await self.wait_from(start)
        try:
            status, reason, response_headers, data = await self.upstream.exchange(request + (body or b""), method)
        except (OSError, EOFError, asyncio.IncompleteReadError, BadMessage, ValueError):
            self.items.append((start, await client.send(BAD_GATEWAY), "http", f"{method} {path} -> 502 (upstream failed)"))
            return False

        length = header(response_headers, "Content-Length")
        lines = [f"HTTP/1.1 {status} {reason}\r\n"]
        lines += [f"{k}: {v}\r\n" for k, v in response_headers if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
        lines.append(f"Content-Length: {length if method == 'HEAD' and length is not None else len(data)}\r\n\r\n")
        end = await client.send("".join(lines).encode("latin-1") + (data if method != "HEAD" else b""))
        self.items.append((start, end, "http", f"{method} {path} -> {status}"))
        return keep

    async def wait_from(self, start):
        """Waits until the latency has passed since the request arrived (the proxy's own delays count in it)."""
        await asyncio.sleep(max(0.0, start + self.latency - time.monotonic()))

    def control(self, path):
        items = list(self.items)
        if path == "/_bench/reset":
            self.items = []
            body = b"{}"
        elif path == "/_bench/stats":
            body = json.dumps({
                "requests": sum(1 for r in items if r[2] == "http"),
                "probes": sum(1 for r in items if r[2] == "probe"),
                "depth": len(longest_chain(items)),
            }).encode()
        else:
            origin = min((r[0] for r in items), default=0)
            lines = longest_chain(items) if path == "/_bench/chain" else sorted(items)
            body = "".join(f"{(r[0] - origin) * 1000:8.1f} {(r[1] - origin) * 1000:8.1f}  {r[3]}\n" for r in lines).encode()
        return b"HTTP/1.1 200 OK\r\nServer: latency-proxy\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="host:port of the registry (plain HTTP)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=25)
    parser.add_argument("--port-file", help="write the port chosen here once listening")
    args = parser.parse_args()
    host, port = args.upstream.rsplit(":", 1)
    proxy = Proxy(Upstream(host, int(port)), args.latency_ms / 1000.0)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)   # copied to each accepted connection
    listener.bind(("127.0.0.1", args.port))
    listener.listen(1024)
    listener.setblocking(False)
    chosen = listener.getsockname()[1]
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(str(chosen))
    print(f"listening on 127.0.0.1:{chosen} -> {args.upstream}, {args.latency_ms:g} ms a request", file=sys.stderr)
    loop, running = asyncio.get_running_loop(), set()
    while True:
        sock, _ = await loop.sock_accept(listener)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        task = asyncio.create_task(proxy.serve(sock))
        running.add(task)
        task.add_done_callback(running.discard)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
