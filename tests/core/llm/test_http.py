"""The model endpoint's HTTP/1.1 client against a raw local server writing the bytes itself:
each framing (length, chunked, until close), interim answers, gzip, keep-alive reuse, the
keep-alive race, servers that break off, garbage, oversize answers, cancellation and TLS."""
from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tabletalk.core.llm import http
from tabletalk.core.llm.http import BadAnswer, Disconnected, Endpoint


class RawServer:
    """Answers each request with the next scripted bytes (or calls a scripted coroutine)."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.tls = tls
        self.script: list = []
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed = asyncio.Event()
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        for w in self.writers:
            w.close()
        self.server.close()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                self.requests.append(head + await reader.readexactly(length))
                answer = self.script.pop(0)
                if callable(answer):
                    writer.peer_reader = reader  # for answers that wait on the client
                    if await answer(writer) is False:
                        return
                    continue
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed.set()
            writer.close()


def ok(body: bytes = b'{"a": 1}', *extra: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def close_after(writer: asyncio.StreamWriter, data: bytes = b"") -> bool:
    writer.write(data)
    await writer.drain()
    writer.close()
    return False


@pytest.fixture
async def server():
    async with RawServer() as s:
        yield s


@pytest.fixture
def endpoint(server):
    ep = Endpoint(server.url)
    yield ep
    ep.close()


async def test_request_line_headers_and_body_are_sent_once(server, endpoint):
    server.script.append(ok())
    r = await endpoint.request("POST", "/chat/completions", {"Authorization": "Bearer k"}, b'{"q": 1}')
    sent = server.requests[0]
    assert sent.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in sent and b"Authorization: Bearer k\r\n" in sent
    assert sent.endswith(b'\r\n\r\n{"q": 1}') and b"Content-Length: 8\r\n" in sent
    assert (r.status, r.reason, r.body) == (200, "OK", b'{"a": 1}')


async def test_connections_are_reused_and_parallel_requests_get_their_own(server, endpoint):
    server.script += [ok(b"1"), ok(b"2")]
    assert (await endpoint.request("POST", "/x", {}, b"")).body == b"1"
    assert (await endpoint.request("POST", "/x", {}, b"")).body == b"2"
    assert server.connections == 1
    server.script += [ok(b"p")] * 3
    bodies = await asyncio.gather(*(endpoint.request("POST", "/x", {}, b"") for _ in range(3)))
    assert [b.body for b in bodies] == [b"p"] * 3 and server.connections == 3


async def test_chunked_body_with_extensions_and_trailers_split_anywhere(server, endpoint):
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5;name=x\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n")

    async def dribble(writer):
        for i in range(0, len(raw), 3):
            writer.write(raw[i:i + 3])
            await writer.drain()
            await asyncio.sleep(0)

    server.script += [dribble, ok(b"next")]
    assert (await endpoint.request("POST", "/x", {}, b"")).body == b"hello world"
    assert (await endpoint.request("POST", "/x", {}, b"")).body == b"next"
    assert server.connections == 1  # the chunked answer left the connection in step


async def test_body_until_close_http10_and_connection_close(server, endpoint):
    server.script.append(lambda w: close_after(w, b"HTTP/1.0 200 OK\r\n\r\nall of it"))
    assert (await endpoint.request("POST", "/x", {}, b"")).body == b"all of it"
    server.script.append(ok(b"closing", "Connection: close"))
    assert (await endpoint.request("POST", "/x", {}, b"")).body == b"closing"
    server.script.append(ok(b"fresh"))
    assert (await endpoint.request("POST", "/x", {}, b"")).body == b"fresh"
    assert server.connections == 3  # neither answer's connection was used again


async def test_interim_answer_then_the_real_one(server, endpoint):
    server.script.append(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"real"))
    r = await endpoint.request("POST", "/x", {}, b"")
    assert (r.status, r.body) == (200, b"real")


async def test_gzip_body_is_decoded_and_headers_are_lowercase(server, endpoint):
    server.script.append(ok(gzip.compress(b'{"z": true}'), "Content-Encoding: gzip", "Retry-After: 3"))
    r = await endpoint.request("POST", "/x", {}, b"")
    assert r.body == b'{"z": true}' and r.headers["retry-after"] == "3"


async def test_a_pooled_connection_the_server_closed_is_replaced_without_an_error(server, endpoint):
    server.script.append(lambda w: close_after(w, ok(b"first")))  # answers, then closes while idle
    assert (await endpoint.request("POST", "/x", {}, b"")).body == b"first"
    await server.closed.wait()
    server.script.append(ok(b"second"))
    assert (await endpoint.request("POST", "/x", {}, b"")).body == b"second"
    assert server.connections == 2


async def test_a_server_breaking_off_mid_answer_is_an_error_not_a_retry(server, endpoint):
    server.script.append(ok(b"warm"))
    await endpoint.request("POST", "/x", {}, b"")
    server.script.append(lambda w: close_after(w, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart"))
    with pytest.raises(Disconnected):
        await endpoint.request("POST", "/x", {}, b"")
    assert len(server.requests) == 2  # sent once: the server had started answering


async def test_a_server_closing_without_answering_a_fresh_connection_is_an_error(server, endpoint):
    server.script.append(lambda w: close_after(w))
    with pytest.raises(Disconnected):
        await endpoint.request("POST", "/x", {}, b"")


@pytest.mark.parametrize("raw, says", [
    (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not an HTTP answer"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "hex"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n", "larger than"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Encoding: gzip\r\n\r\nnope", "corrupt"),
])
async def test_garbage_is_a_clear_error(server, endpoint, raw, says):
    server.script.append(raw)
    with pytest.raises(BadAnswer, match=says):
        await endpoint.request("POST", "/x", {}, b"")


async def test_an_endless_header_or_body_is_refused(server, endpoint, monkeypatch):
    monkeypatch.setattr(http, "MAX_BODY", 1000)
    server.script.append(lambda w: close_after(w, b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 5000))
    with pytest.raises(BadAnswer, match="larger than"):
        await endpoint.request("POST", "/x", {}, b"")
    server.script.append(b"HTTP/1.1 200 OK\r\nX: " + b"y" * (http.MAX_HEAD + 10))
    with pytest.raises(BadAnswer, match="headers are too long"):
        await endpoint.request("POST", "/x", {}, b"")


async def test_cancelling_a_request_closes_its_connection(server, endpoint):
    async def never(writer):
        await writer.peer_reader.read()  # until the client goes
        return False

    server.script.append(never)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await endpoint.request("POST", "/x", {}, b"")
    await asyncio.wait_for(server.closed.wait(), 5)  # the server saw the socket go
    server.script.append(ok(b"after"))
    assert (await endpoint.request("POST", "/x", {}, b"")).body == b"after"


async def test_idle_connections_expire(server, endpoint, monkeypatch):
    server.script += [ok(b"1"), ok(b"2")]
    await endpoint.request("POST", "/x", {}, b"")
    monkeypatch.setattr(http, "KEEPALIVE", 0.0)
    await endpoint.request("POST", "/x", {}, b"")
    assert server.connections == 2


async def test_refused_connection_is_an_os_error():
    async with RawServer() as s:
        url = s.url
    with pytest.raises(OSError):
        await Endpoint(url).request("POST", "/x", {}, b"")


def test_only_http_urls():
    for bad in ("ftp://h/x", "localhost:8000", "http://"):
        with pytest.raises(ValueError):
            Endpoint(bad)
    assert Endpoint("https://api.example.com/v1").host_header == "api.example.com"
    assert Endpoint("http://[::1]:8080").host_header == "[::1]:8080"


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx, cert_file


async def test_tls_is_verified_against_the_trusted_certificates(tmp_path, monkeypatch):
    ctx, cert_file = _self_signed(tmp_path)
    async with RawServer(tls=ctx) as s:
        with pytest.raises(ssl.SSLCertVerificationError):
            await Endpoint(s.url).request("POST", "/x", {}, b"")  # not in the system's trust store
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
        s.script += [ok(b"secure"), ok(b"again")]
        ep = Endpoint(s.url)
        assert (await ep.request("POST", "/x", {}, b"")).body == b"secure"
        assert (await ep.request("POST", "/x", {}, b"")).body == b"again"
        ep.close()


async def test_the_host_is_looked_up_once_for_many_connections(server, monkeypatch):
    """A name (not an IP) is resolved once per DNS_TTL, not per new connection; a failed connect
    drops the cached address."""
    loop = asyncio.get_running_loop()
    lookups = []
    real = loop.getaddrinfo

    async def counting(host, *args, **kw):
        lookups.append(host)
        return await real(host, *args, **kw)

    monkeypatch.setattr(loop, "getaddrinfo", counting)
    ep = Endpoint(f"http://localhost:{server.port}/v1")
    server.script += [ok(b"x")] * 5
    bodies = await asyncio.gather(*(ep.request("POST", "/x", {}, b"") for _ in range(5)))
    assert [b.body for b in bodies] == [b"x"] * 5 and server.connections == 5
    assert lookups == ["localhost"]
    server.server.close()
    await server.server.wait_closed()
    ep.close()
    with pytest.raises(OSError):
        await ep.request("POST", "/x", {}, b"")
    assert ep._address is None
    ep.close()
