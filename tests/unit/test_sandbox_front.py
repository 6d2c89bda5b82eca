"""The sandbox's TLS front (sandbox/front.py) and its certificate authority (sandbox/tls.py), in this
process: a real TLS listener, real sockets, and small upstream servers that record what arrives.

What the hub must receive through it, as through CloudFront and traefik: https as the scheme, a client
address that changes with every request, Host and cookies unchanged, bodies whole, WebSockets both
ways, nothing cached; and CloudFront's answers when the origin fails (502, 504), its WebSocket idle cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import http.client
import ipaddress
import json
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from sandbox import front, tls


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> tls.Issued:
    return tls.ensure(tmp_path_factory.mktemp("sandbox") / "tls")


class Running:
    """A Front serving TLS on a free port, in its own event loop thread."""

    def __init__(self, upstream_port: int, issued: tls.Issued, **settings: Any) -> None:
        self.front = front.Front("127.0.0.1", upstream_port, **settings)
        self.loop = asyncio.new_event_loop()
        context = front.server_context(issued.files.server_cert, issued.files.server_key)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self.front.handle, "127.0.0.1", 0, ssl=context)
        )
        self.port: int = self.server.sockets[0].getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client_context = ssl.create_default_context(cafile=str(issued.files.ca_cert))

    def connection(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=self.client_context)

    def tls_socket(self) -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return self.client_context.wrap_socket(raw, server_hostname="127.0.0.1")

    def stop(self) -> None:
        async def shut() -> None:
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Recorder(BaseHTTPRequestHandler):
    """Answers each request with what it received: headers, path, and the body's length and hash. It
    says its answers may be cached for an hour: a front that cached would answer the second GET itself."""

    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]]

    def _answer(self, body: bytes) -> None:
        record = {
            "method": self.command,
            "path": self.path,
            "headers": [[k.lower(), v] for k, v in self.headers.items()],
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "n": len(self.seen) + 1,
        }
        self.seen.append(record)
        data = json.dumps(record).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "public, max-age=3600")
        self.send_header("Set-Cookie", "session=abc; Secure; HttpOnly; Path=/")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        self._answer(b"")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        self._answer(self._body())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def recorder() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()


@pytest.fixture(scope="module")
def running(recorder: tuple[int, list[dict[str, Any]]], issued: tls.Issued) -> Iterator[Running]:
    started = Running(recorder[0], issued)
    yield started
    started.stop()


def _get(
    conn: http.client.HTTPSConnection, path: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    conn.request("GET", path, headers=headers or {})
    reply = conn.getresponse()
    assert reply.status == 200
    answer: dict[str, Any] = json.loads(reply.read())
    return answer


def _headers(record: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in record["headers"] if k == name]


def test_the_hub_sees_https_and_a_different_client_address_for_every_request(running: Running) -> None:
    conn = running.connection()  # one keep-alive connection: the address changes all the same
    records = [_get(conn, f"/hub/login?next=%2Fhub%2F&n={i}") for i in range(5)]
    conn.close()
    edges = [_headers(r, "x-real-ip")[0] for r in records]
    assert len(set(edges)) == 5, edges
    assert all(ipaddress.ip_address(e) in front.EDGE_NETWORK for e in edges)
    for record, edge in zip(records, edges, strict=True):
        assert _headers(record, "x-forwarded-proto") == ["https"]
        assert _headers(record, "cloudfront-forwarded-proto") == ["https"]
        assert _headers(record, "x-forwarded-for") == [f"127.0.0.1, {edge}"]
        assert _headers(record, "host") == [f"127.0.0.1:{running.port}"]  # unchanged
        assert record["path"].startswith("/hub/login?next=%2Fhub%2F&n=")  # query string as sent


def test_a_viewers_own_forwarding_headers_are_replaced_and_its_x_forwarded_for_appended_to(
    running: Running,
) -> None:
    conn = running.connection()
    record = _get(
        conn,
        "/x",
        {
            "X-Forwarded-Proto": "http",
            "X-Real-Ip": "10.0.0.66",
            "X-Forwarded-For": "203.0.113.9",
            "CloudFront-Forwarded-Proto": "http",
            "Cookie": "jupyterhub-session-id=s1; _xsrf=t2",
            "Proxy-Connection": "keep-alive",
        },
    )
    conn.close()
    edge = _headers(record, "x-real-ip")
    assert len(edge) == 1 and edge[0] != "10.0.0.66"
    assert _headers(record, "x-forwarded-proto") == ["https"]
    assert _headers(record, "cloudfront-forwarded-proto") == ["https"]
    assert _headers(record, "x-forwarded-for") == [f"203.0.113.9, 127.0.0.1, {edge[0]}"]
    assert _headers(record, "cookie") == ["jupyterhub-session-id=s1; _xsrf=t2"]
    assert _headers(record, "proxy-connection") == []  # hop-by-hop


def test_nothing_is_cached_and_the_origins_headers_reach_the_browser(running: Running) -> None:
    conn = running.connection()
    conn.request("GET", "/static/logo.png")
    first = conn.getresponse()
    one = json.loads(first.read())
    assert first.getheader("Cache-Control") == "public, max-age=3600"
    assert first.getheader("Set-Cookie") == "session=abc; Secure; HttpOnly; Path=/"
    two = _get(conn, "/static/logo.png")
    conn.close()
    assert two["n"] == one["n"] + 1  # the second GET reached the origin too


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_request_body_arrives_whole(running: Running, chunked: bool) -> None:
    body = bytes(range(256)) * 8192  # 2 MiB, more than any one read
    conn = running.connection()
    if chunked:
        parts = [body[i : i + 100_000] for i in range(0, len(body), 100_000)]
        conn.request("POST", "/upload", body=iter(parts), encode_chunked=True)
    else:
        conn.request("POST", "/upload", body=body)
    reply = conn.getresponse()
    record = json.loads(reply.read())
    assert reply.status == 200
    assert (record["body_length"], record["body_sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    # and the connection goes on
    assert _get(conn, "/after")["path"] == "/after"
    conn.close()


def test_head_and_the_connection_after_it(running: Running) -> None:
    conn = running.connection()
    conn.request("HEAD", "/hub/api")
    reply = conn.getresponse()
    assert reply.status == 200 and reply.read() == b""
    assert _get(conn, "/next")["method"] == "GET"
    conn.close()


def _websocket_origin(seen: list[bytes]) -> tuple[socket.socket, threading.Thread]:
    """An origin that accepts one Upgrade: 101, a greeting, then each chunk echoed back upper-cased."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(65536)
            head, rest = head.split(b"\r\n\r\n", 1)
            seen.append(head)
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello"
            )
            if rest:
                conn.sendall(rest.upper())
            while data := conn.recv(65536):
                conn.sendall(data.upper())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def _read_until(sock: ssl.SSLSocket, needle: bytes) -> bytes:
    data = b""
    while needle not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before {needle!r}: {data!r}"
        data += chunk
    return data


def test_a_websocket_passes_both_ways_untouched(issued: tls.Issued) -> None:
    seen: list[bytes] = []
    listener, thread = _websocket_origin(seen)
    started = Running(listener.getsockname()[1], issued)
    try:
        with started.tls_socket() as sock:
            # the first frame's bytes in the same packet as the Upgrade request
            sock.sendall(
                b"GET /user/ada/api/kernels/k1/channels HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Upgrade: websocket\r\nConnection: Upgrade\r\nOrigin: https://127.0.0.1\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nearly"
            )
            answer = _read_until(sock, b"EARLY")
            assert answer.startswith(b"HTTP/1.1 101 ")
            assert b"hello" in answer
            for i in range(3):
                sock.sendall(f"frame {i} ".encode() * 1000)
                _read_until(sock, f"FRAME {i} ".encode() * 1000)
        head = seen[0].decode().lower()
        for line in (
            "upgrade: websocket",
            "connection: upgrade",
            "origin: https://127.0.0.1",
            "x-forwarded-proto: https",
            "sec-websocket-key: dghlihnhbxbszsbub25jzq==",
        ):
            assert line in head, head
    finally:
        started.stop()
        listener.close()
        thread.join(5)


def test_an_idle_websocket_is_closed_as_cloudfront_closes_it(issued: tls.Issued) -> None:
    seen: list[bytes] = []
    listener, thread = _websocket_origin(seen)
    started = Running(listener.getsockname()[1], issued, websocket_idle_s=0.3)
    try:
        with started.tls_socket() as sock:
            sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            _read_until(sock, b"hello")
            sock.settimeout(10)
            rest = b""
            while chunk := sock.recv(65536):  # nothing moves: the front closes it
                rest += chunk
            assert rest == b""
    finally:
        started.stop()
        listener.close()
        thread.join(5)


def test_an_origin_that_cannot_be_reached_is_a_502(issued: tls.Issued) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    started = Running(port, issued)  # nothing listens there any more
    try:
        conn = started.connection()
        conn.request("GET", "/hub/login")
        reply = conn.getresponse()
        assert reply.status == 502
        assert b"cannot reach the hub's proxy" in reply.read()
    finally:
        started.stop()


def test_an_origin_that_never_answers_is_a_504(issued: tls.Issued) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        started = Running(silent.getsockname()[1], issued, read_timeout_s=0.3)
        try:
            conn = started.connection()
            conn.request("GET", "/hub/api")
            reply = conn.getresponse()
            assert reply.status == 504
        finally:
            started.stop()


def test_a_client_that_does_not_trust_the_sandboxs_ca_refuses_the_front(running: Running) -> None:
    conn = http.client.HTTPSConnection(
        "127.0.0.1", running.port, timeout=10, context=ssl.create_default_context()
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", "/hub/api")
    conn.close()


# --- the certificate authority --------------------------------------------------------------------


def test_the_ca_is_kept_its_keys_are_private_and_the_hubs_certificate_is_new_at_every_up(
    tmp_path: Path,
) -> None:
    first = tls.ensure(tmp_path / "tls")
    assert first.ca_made
    files = first.files
    assert stat.S_IMODE(files.folder.stat().st_mode) == 0o700
    for key in (files.ca_key, files.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    for cert in (files.ca_cert, files.server_cert):
        assert stat.S_IMODE(cert.stat().st_mode) == 0o644
    ca_pem, server_pem = files.ca_cert.read_bytes(), files.server_cert.read_bytes()
    again = tls.ensure(tmp_path / "tls")
    assert not again.ca_made and again.ca_fingerprint == first.ca_fingerprint
    assert files.ca_cert.read_bytes() == ca_pem
    assert files.server_cert.read_bytes() != server_pem


def test_a_broken_or_expiring_ca_is_made_again(tmp_path: Path) -> None:
    first = tls.ensure(tmp_path / "tls")
    first.files.ca_key.write_text("not a key")
    assert tls.ensure(tmp_path / "tls").ca_made
    kept = tls.ensure(tmp_path / "tls")
    assert not kept.ca_made
    # when what it signs would outlive it
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=365 * tls.CA_YEARS) - tls.CA_RENEW_BEFORE
    assert tls.ensure(tmp_path / "tls", now=later).ca_made


def test_the_hubs_certificate_names_this_machine_only_and_lives_as_browsers_allow(issued: tls.Issued) -> None:
    cert = x509.load_pem_x509_certificate(issued.files.server_cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {"localhost"}
    assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= dt.timedelta(days=398)


def test_the_ca_cannot_vouch_for_any_other_site(issued: tls.Issued, tmp_path: Path) -> None:
    """Its name constraints: a certificate it signs for another name fails where the CA is trusted."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ca = x509.load_pem_x509_certificate(issued.files.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(issued.files.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = tls.wall_clock(tmp_path)  # OpenSSL's clock: only the name may be what fails
    rogue = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "example.org")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("example.org")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = tmp_path / "rogue.pem"
    pem.write_bytes(
        rogue.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pem)
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError):
            server.wrap_socket(conn, server_side=True).recv(1)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    client = ssl.create_default_context(cafile=str(issued.files.ca_cert))
    with (
        socket.create_connection(listener.getsockname()) as raw,
        pytest.raises(ssl.SSLCertVerificationError) as err,
    ):
        client.wrap_socket(raw, server_hostname="example.org")
    assert "permitted subtree violation" in str(err.value)
    listener.close()
    thread.join(5)


@pytest.mark.parametrize("shift", [dt.timedelta(days=5 * 365 + 1), dt.timedelta(days=-30)])
def test_certificates_made_while_pythons_clock_is_moved_are_valid_for_openssl(
    tmp_path: Path, shift: dt.timedelta
) -> None:
    """``make test-future`` moves Python's clock five years ahead, OpenSSL's not: the CA and the hub's
    certificate are dated by the kernel's clock, so a TLS client (on the real clock) accepts them."""
    from freezegun import freeze_time

    # cryptography's Rust side keeps the datetime class it first meets: let that be the real one
    # (freezegun's FakeDatetime is a subclass), or every certificate after this test would be refused.
    tls.ensure(tmp_path / "first")
    real = tls.wall_clock(tmp_path)  # the kernel's: under make test-future, Python's own is already moved
    with freeze_time(real + shift):
        assert abs(dt.datetime.now(dt.UTC) - (real + shift)) < dt.timedelta(minutes=1)
        made = tls.ensure(tmp_path / "tls")
    assert made.ca_made
    for pem in (made.files.ca_cert, made.files.server_cert):
        cert = x509.load_pem_x509_certificate(pem.read_bytes())
        assert cert.not_valid_before_utc < real < cert.not_valid_after_utc, (pem.name, cert)
    started = Running(_closed_port(), made)
    try:
        with started.tls_socket() as sock:  # the handshake checks the dates against the real clock
            assert sock.version()
    finally:
        started.stop()
    # read again on the real clock: the same CA is kept
    assert not tls.ensure(tmp_path / "tls").ca_made


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


def test_the_signup_doors_rate_limit_sees_the_viewer_through_the_front_as_through_cloudfront() -> None:
    """The door counts wrong codes per client: the X-Forwarded-For entry ``forwarded_hops`` from the right.
    The front appends the viewer and then the (changing) edge, as CloudFront and traefik do, so the
    sandbox's hub reads it with the instance's hops: the viewer, whatever the viewer sent itself."""
    from hubagent.door import client_address
    from hubagent.signup import INSTANCE_FORWARDED_HOPS

    from sandbox.hub import FRONT_FORWARDED_HOPS

    assert FRONT_FORWARDED_HOPS == INSTANCE_FORWARDED_HOPS
    edges = front.edge_addresses()
    for sent in ([], [(b"x-forwarded-for", b"203.0.113.9")], [(b"x-forwarded-for", b"1.2.3.4, 5.6.7.8")]):
        headers = dict(front.forwarded_headers([(b"host", b"127.0.0.1"), *sent], "127.0.0.7", next(edges)))
        chain = headers[b"x-forwarded-for"].decode()
        assert client_address(chain, FRONT_FORWARDED_HOPS, "127.0.0.1") == "127.0.0.7", chain
