"""What the sandbox's HTTPS front (sandbox/front.py) adds on the way to the hub: the same requests
straight to the hub's proxy (plain HTTP, as before the front) and through the front (TLS, the
forwarding headers, h11 on both sides), the front a process of its own as `make up` starts it.

* GET /hub/api on a real JupyterHub (stand-in servers) through configurable-http-proxy: one client on
  a kept-alive connection (latency), a new connection a request (TLS handshakes), and 8 clients at
  once (requests/s);
* a WebSocket's round trip: 1 KiB echoed by a plain origin, straight and through the front.

    .venv/bin/python bench/front_overhead.py
"""

from __future__ import annotations

import http.client
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "agent")]

from sandbox import control, tls  # noqa: E402
from sandbox.hub import free_port  # noqa: E402
from sandbox.layout import Layout  # noqa: E402
from tests.support.localhub import LocalHub  # noqa: E402

REQUESTS = 400
CLIENTS = 8
ROUND_TRIPS = 2000
MESSAGE = b"x" * 1024


def connect(port: int, context: ssl.SSLContext | None) -> http.client.HTTPConnection:
    if context is None:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    return http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context)


def get(conn: http.client.HTTPConnection, path: str) -> None:
    conn.request("GET", path)
    reply = conn.getresponse()
    reply.read()
    assert reply.status == 200, reply.status


def timed(call: Callable[[], None], n: int) -> list[float]:
    took = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        took.append((time.perf_counter() - started) * 1000)
    return took


def summary(label: str, took: list[float]) -> str:
    ordered = sorted(took)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"{label:<48} median {statistics.median(took):6.2f} ms   p95 {p95:6.2f} ms"


def kept_alive(port: int, context: ssl.SSLContext | None) -> list[float]:
    conn = connect(port, context)
    get(conn, "/hub/api")  # warm: the connection (and its handshake) is made once
    took = timed(lambda: get(conn, "/hub/api"), REQUESTS)
    conn.close()
    return took


def new_connections(port: int, context: ssl.SSLContext | None) -> list[float]:
    def once() -> None:
        conn = connect(port, context)
        get(conn, "/hub/api")
        conn.close()

    return timed(once, REQUESTS // 4)


def throughput(port: int, context: ssl.SSLContext | None) -> float:
    def client(_: int) -> None:
        conn = connect(port, context)
        for _ in range(REQUESTS // CLIENTS):
            get(conn, "/hub/api")
        conn.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    return (REQUESTS // CLIENTS * CLIENTS) / (time.perf_counter() - started)


def echo_origin() -> int:
    """A plain origin that accepts Upgrades (101) and echoes what follows."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
            )
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    port: int = listener.getsockname()[1]
    return port


def websocket_round_trips(port: int, context: ssl.SSLContext | None) -> list[float]:
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock = context.wrap_socket(raw, server_hostname="127.0.0.1") if context else raw
    with sock:
        sock.sendall(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 101"), head

        def round_trip() -> None:
            sock.sendall(MESSAGE)
            got = 0
            while got < len(MESSAGE):
                got += len(sock.recv(65536))

        return timed(round_trip, ROUND_TRIPS)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-front-") as tmp:
        layout = Layout(Path(tmp))
        layout.logs.mkdir()
        started = time.perf_counter()
        issued = tls.ensure(layout.tls)
        print(f"CA and the hub's certificate made in {(time.perf_counter() - started) * 1000:.0f} ms")
        context = ssl.create_default_context(cafile=str(issued.files.ca_cert))
        hub = LocalHub(Path(tmp) / "hub")
        hub.behind_front = True
        with hub:
            port = free_port()
            front = control.start_front(layout, port, hub.port, issued.files, {})
            try:
                control.wait_front(
                    f"https://127.0.0.1:{port}", issued.files.ca_cert, front, layout.logs / "front.log"
                )
                print(f"GET /hub/api on a real JupyterHub, {REQUESTS} requests a row:")
                direct = kept_alive(hub.port, None)
                fronted = kept_alive(port, context)
                print(summary("  straight to the proxy (http, kept alive)", direct))
                print(summary("  through the front (https, kept alive)", fronted))
                print(
                    f"  {'the front adds (median)':<46} {statistics.median(fronted) - statistics.median(direct):6.2f} ms"
                )
                print(summary("  straight, a new connection each", new_connections(hub.port, None)))
                print(
                    summary("  through the front, a new TLS connection each", new_connections(port, context))
                )
                straight_rps, front_rps = throughput(hub.port, None), throughput(port, context)
                print(
                    f"  {CLIENTS} clients at once: straight {straight_rps:5.0f} requests/s, through the front "
                    f"{front_rps:5.0f} requests/s ({front_rps / straight_rps:.0%})"
                )
            finally:
                front.terminate()
                front.wait(10)
        origin = echo_origin()
        port = free_port()
        front = control.start_front(layout, port, origin, issued.files, {})
        try:
            deadline = time.monotonic() + 30
            while "front on https://" not in (layout.logs / "front.log").read_text().split("front stops")[-1]:
                assert time.monotonic() < deadline and front.poll() is None
                time.sleep(0.05)
            print(f"WebSocket round trip of {len(MESSAGE)} bytes, {ROUND_TRIPS} in a row:")
            direct = websocket_round_trips(origin, None)
            fronted = websocket_round_trips(port, context)
            print(summary("  straight to the origin", direct))
            print(summary("  through the front (wss)", fronted))
        finally:
            front.terminate()
            front.wait(10)


if __name__ == "__main__":
    main()
