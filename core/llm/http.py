"""A small HTTP/1.1 client for one model endpoint: keep-alive connections, one write per request.

A question makes two model calls, and under a burst the general-purpose client's per-call work
(request objects, header multidicts, stream readers, payload registries, tracing hooks) cost more
CPU than everything else the call needs. Calls to a model endpoint need much less: POST a JSON
body to one origin, read a status, a few headers and a body framed by Content-Length, chunked
transfer coding or the connection's end.

Idle connections are kept per endpoint (last used first) and closed after `KEEPALIVE` seconds
unused. A request on a reused connection that the server had already closed — the keep-alive race —
is sent once more on a new connection, before any of the answer has arrived; every other failure is
the caller's to retry. Cancelling a request (a deadline) closes its connection.
"""
from __future__ import annotations

import asyncio
import socket
import ssl
import time
import zlib
from urllib.parse import urlsplit

KEEPALIVE = 15.0  # seconds an idle connection is kept (servers commonly close theirs after 5-75 s)
DNS_TTL = 300.0  # seconds a resolved address is used for new connections (dropped when one fails)
MAX_BODY = 32 * 1024 * 1024  # an answer larger than this is refused, not buffered
MAX_HEAD = 64 * 1024


class Disconnected(ConnectionError):
    """The server closed the connection before the whole answer arrived."""

    def __init__(self, detail: str = "Server disconnected"):
        super().__init__(detail)


class BadAnswer(ValueError):
    """The bytes that came back are not an HTTP/1.x answer we can read."""


class Response:
    __slots__ = ("status", "reason", "headers", "body")

    def __init__(self, status: int, reason: str, headers: dict[str, str], body: bytes):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body


class Endpoint:
    """Connections to one origin (scheme, host, port) taken from `base_url`."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.tls = parts.scheme == "https"
        self.hostname = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        default = self.port == (443 if self.tls else 80)
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        self.host_header = host if default else f"{host}:{self.port}"
        self.prefix = parts.path.rstrip("/")
        self._ssl: ssl.SSLContext | None = None
        self._address: tuple[float, int, tuple] | None = None  # (expires, family, sockaddr) of the host
        self._lookup: asyncio.Task | None = None  # a lookup under way, shared by its waiters
        self._idle: dict[_Connection, float] = {}  # connection -> when it was last released (insertion order)

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Response:
        head = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self.host_header}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        conn = self._take()
        if conn is not None:
            try:
                return await self._exchange(conn, data)
            except Disconnected:
                if conn.received:  # part of an answer came: the server saw the request
                    raise
        return await self._exchange(await self._connect(), data)

    async def _exchange(self, conn: _Connection, data: bytes) -> Response:
        try:
            response = await conn.send(data)
        except BaseException:
            conn.close()
            raise
        if conn.reusable:
            self._idle[conn] = time.monotonic()
        else:
            conn.close()
        return response

    def _take(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            conn, since = self._idle.popitem()  # the most recently used first
            if conn.open and now - since < KEEPALIVE:
                return conn
            conn.close()
            for old, since in list(self._idle.items()):  # older ones have expired too
                if now - since < KEEPALIVE:
                    break
                del self._idle[old]
                old.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self.tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        family, address = await self._resolve(loop)
        try:
            _, conn = await loop.create_connection(lambda: _Connection(self), address[0], address[1], family=family,
                                                   ssl=self._ssl if self.tls else None,
                                                   server_hostname=self.hostname if self.tls else None)
        except OSError:
            self._address = None  # the host may have moved: look it up again next time
            raise
        return conn

    async def _resolve(self, loop: asyncio.AbstractEventLoop) -> tuple[int, tuple]:
        """The host's address, looked up once per DNS_TTL (one lookup for all the connections a
        burst opens at once), not once per connection by the resolver in a thread."""
        if self._address is not None and self._address[0] > time.monotonic():
            return self._address[1], self._address[2]
        if self._lookup is None or self._lookup.done():
            self._lookup = loop.create_task(self._look_up(loop))
            self._lookup.add_done_callback(lambda t: t.cancelled() or t.exception())  # waiters may all be gone
        return await asyncio.shield(self._lookup)

    async def _look_up(self, loop: asyncio.AbstractEventLoop) -> tuple[int, tuple]:
        infos = await loop.getaddrinfo(self.hostname, self.port, type=socket.SOCK_STREAM)
        if not infos:
            raise OSError(f"could not resolve {self.hostname}")
        family, _, _, _, address = infos[0]
        self._address = (time.monotonic() + DNS_TTL, family, address)
        return family, address

    def _forget(self, conn: _Connection) -> None:
        self._idle.pop(conn, None)

    def close(self) -> None:
        for conn in list(self._idle):
            conn.close()
        self._idle.clear()


class _Connection(asyncio.Protocol):
    """One socket; reads one answer at a time."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.reusable = False
        self.received = False
        self._waiter: asyncio.Future | None = None
        self._parser: _Parser | None = None

    def connection_made(self, transport) -> None:
        self.transport, self.open = transport, True

    async def send(self, data: bytes) -> Response:
        if not self.open:
            raise Disconnected()
        self.reusable = self.received = False
        self._parser = _Parser()
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        try:
            return await self._waiter
        finally:
            self._waiter = self._parser = None

    def data_received(self, data: bytes) -> None:
        parser, waiter = self._parser, self._waiter
        if parser is None or waiter is None or waiter.done():
            self.close()  # bytes nobody asked for: the connection cannot be trusted
            return
        self.received = True
        try:
            if parser.feed(data):
                self.reusable = parser.keep_alive and not parser.extra
                waiter.set_result(parser.response())
        except BadAnswer as exc:
            self.reusable = False
            waiter.set_exception(exc)

    def eof_received(self) -> bool:
        parser, waiter = self._parser, self._waiter
        if parser is not None and waiter is not None and not waiter.done():
            if parser.until_close:
                self.reusable = False
                try:
                    waiter.set_result(parser.response())
                except BadAnswer as exc:
                    waiter.set_exception(exc)
            else:
                waiter.set_exception(Disconnected())
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self.endpoint._forget(self)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(Disconnected(f"Server disconnected ({exc})" if exc else "Server disconnected"))

    def close(self) -> None:
        self.open = False
        self.endpoint._forget(self)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class _Parser:
    """An HTTP/1.x answer, fed in pieces: status line and headers, then the body as framed."""

    def __init__(self):
        self.buf = bytearray()
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}
        self.keep_alive = True
        self.until_close = False
        self.extra = False  # bytes after the answer: the connection is out of step
        self._length: int | None = None  # Content-Length framing
        self._chunked = False
        self._chunk_left = -1  # chunked: bytes left in the current chunk (-1: expecting a size line)
        self._trailers = False
        self._body = bytearray()
        self._in_body = False

    def feed(self, data: bytes) -> bool:
        self.buf += data
        if not self._in_body:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    raise BadAnswer("the answer's headers are too long")
                return False
            self._head(bytes(self.buf[:end]).decode("latin-1"))
            del self.buf[:end + 4]
            self._in_body = True
            if self.status < 200:  # 100 Continue and other interim answers: the real one follows
                rest = bytes(self.buf)
                self.__init__()
                return self.feed(rest)
        if self._chunked:
            return self._feed_chunks()
        if self._length is not None:
            if len(self.buf) >= self._length:
                self._body = self.buf[:self._length]
                self.extra = len(self.buf) > self._length
                return True
            return False
        if len(self.buf) > MAX_BODY:
            raise BadAnswer(f"the answer is larger than {MAX_BODY // (1024 * 1024)} MiB")
        return False  # until the connection closes

    def _head(self, text: str) -> None:
        lines = text.split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or not status[0].startswith("HTTP/1.") or not status[1].isdigit():
            raise BadAnswer(f"not an HTTP answer: {lines[0][:60]!r}")
        self.status, self.reason = int(status[1]), (status[2] if len(status) > 2 else "")
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                self.headers[name.strip().lower()] = value.strip()
        connection = self.headers.get("connection", "").lower()
        self.keep_alive = "close" not in connection and (status[0] != "HTTP/1.0" or "keep-alive" in connection)
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._chunked = True
        elif "content-length" in self.headers:
            try:
                self._length = int(self.headers["content-length"])
            except ValueError:
                raise BadAnswer("the answer's Content-Length is not a number") from None
            if self._length < 0 or self._length > MAX_BODY:
                raise BadAnswer(f"the answer is larger than {MAX_BODY // (1024 * 1024)} MiB")
        elif self.status in (204, 304):
            self._length = 0
        else:
            self.until_close, self.keep_alive = True, False

    def _feed_chunks(self) -> bool:
        buf = self.buf
        while True:
            if self._trailers:  # trailer lines until an empty one
                end = buf.find(b"\r\n")
                if end < 0:
                    return False
                line = bytes(buf[:end])
                del buf[:end + 2]
                if not line:
                    self.extra = bool(buf)
                    return True
                continue
            if self._chunk_left < 0:
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > 1024:
                        raise BadAnswer("a chunk size line is too long")
                    return False
                size = bytes(buf[:end]).split(b";", 1)[0].strip()
                try:
                    self._chunk_left = int(size, 16)
                except ValueError:
                    raise BadAnswer("a chunk size is not a hex number") from None
                del buf[:end + 2]
                if self._chunk_left == 0:
                    self._trailers = True
                    continue
                if len(self._body) + self._chunk_left > MAX_BODY:
                    raise BadAnswer(f"the answer is larger than {MAX_BODY // (1024 * 1024)} MiB")
            if len(buf) < self._chunk_left + 2:
                return False
            if buf[self._chunk_left:self._chunk_left + 2] != b"\r\n":
                raise BadAnswer("a chunk is not followed by CRLF")
            self._body += buf[:self._chunk_left]
            del buf[:self._chunk_left + 2]
            self._chunk_left = -1

    def response(self) -> Response:
        body = bytes(self._body if (self._chunked or self._length is not None) else self.buf)
        coding = self.headers.get("content-encoding", "").lower()
        if coding in ("gzip", "deflate"):
            try:
                body = zlib.decompressobj(wbits=47 if coding == "gzip" else 15).decompress(body, MAX_BODY)
            except zlib.error as exc:
                raise BadAnswer(f"the answer's {coding} body is corrupt") from exc
        return Response(self.status, self.reason, self.headers, body)
