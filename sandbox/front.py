"""The sandbox's TLS front: what CloudFront (and traefik behind it) are to the hub on AWS.

It listens on the hub's public port with the certificate the sandbox's own CA signed (tls.py) and
forwards every request to the hub's proxy (configurable-http-proxy, plain HTTP on 127.0.0.1), as the
instance's hub receives it through CloudFront and traefik (stacks/constructs/hub_front.py,
stacks/userdata/bootstrap.sh):

* ``X-Forwarded-Proto: https`` (CloudFront's origin custom header, which replaces a viewer's own) and
  ``CloudFront-Forwarded-Proto: https``;
* ``X-Forwarded-For: <what the viewer sent, ><viewer>, <edge>`` and ``X-Real-Ip: <edge>``, where the
  edge, the CloudFront server that connects to the origin, is a DIFFERENT address for every request
  (a documentation range, 198.51.100.0/24): the hub sees the client's address change between the
  login form's GET and its POST, as behind CloudFront;
* ``Host`` unchanged (Jupyter Server compares a WebSocket's Origin with it); every other header,
  cookie and query string as sent; nothing cached;
* WebSockets: an Upgrade is forwarded, and after ``101`` the bytes pass both ways untouched until
  either side closes or nothing has moved for 10 minutes (CloudFront's idle timeout);
* a response the origin starts nothing of for 60 s (the stack's origin read timeout) is a 504; an
  origin that cannot be reached is a 502.

HTTP/1.1 on both sides (CloudFront speaks HTTP/1.1 to its origin), parsed by h11; one connection to
the proxy per viewer connection, kept while both sides keep theirs.

    python -m sandbox.front --listen 8000 --upstream 41234 --cert tls/hub.pem --key tls/hub-key.pem
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import itertools
import logging
import signal
import ssl
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import h11

log = logging.getLogger("sandbox.front")

# TEST-NET-2 (RFC 5737): addresses that belong to nobody, standing in for CloudFront's servers.
EDGE_NETWORK = ipaddress.ip_network("198.51.100.0/24")
# The hub stack's origin read timeout (stacks/constructs/hub_front.py): no byte for that long is a 504.
READ_TIMEOUT_S = 60.0
# CloudFront closes a WebSocket nothing has moved on for 10 minutes (not adjustable).
WEBSOCKET_IDLE_S = 600.0
# How long a viewer's idle keep-alive connection stays open between requests.
KEEP_ALIVE_S = 75.0
# A connection to the proxy is used again only this soon after its last answer: node closes idle
# keep-alive sockets after 5 s, and a request sent as it closes one would fail.
UPSTREAM_REUSE_S = 2.0
MAX_HEAD_BYTES = 64 * 1024
CHUNK = 64 * 1024

# The forwarding headers the front sets itself; a viewer's own are replaced (X-Forwarded-For: appended to).
REPLACED = {b"x-forwarded-proto", b"cloudfront-forwarded-proto", b"x-real-ip", b"x-forwarded-for"}
# Hop-by-hop headers: about one connection, never passed on (Connection and Upgrade are for a WebSocket).
HOP_BY_HOP = {b"keep-alive", b"proxy-connection", b"proxy-authenticate", b"proxy-authorization"}


def edge_addresses(network: ipaddress.IPv4Network | ipaddress.IPv6Network = EDGE_NETWORK) -> Iterator[str]:
    """The edge servers' addresses in turn: each request comes from the next one."""
    return itertools.cycle([str(host) for host in network.hosts()])


def is_upgrade(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    values = dict(headers)
    connection = {token.strip().lower() for token in values.get(b"connection", b"").split(b",")}
    return b"upgrade" in connection and bool(values.get(b"upgrade"))


def forwarded_headers(
    headers: Iterable[tuple[bytes, bytes]], viewer: str, edge: str
) -> list[tuple[bytes, bytes]]:
    """The request's headers as the hub receives them through CloudFront and traefik."""
    headers = list(headers)
    upgrade = is_upgrade(headers)
    sent_for = [value for name, value in headers if name == b"x-forwarded-for"]
    kept = [
        (name, value)
        for name, value in headers
        if name not in REPLACED
        and name not in HOP_BY_HOP
        and (upgrade or name not in (b"connection", b"upgrade"))
    ]
    chain = [*sent_for, viewer.encode(), edge.encode()]
    return [
        *kept,
        (b"x-forwarded-for", b", ".join(chain)),
        (b"x-real-ip", edge.encode()),
        (b"x-forwarded-proto", b"https"),
        (b"cloudfront-forwarded-proto", b"https"),
    ]


def response_headers(headers: Iterable[tuple[bytes, bytes]], *, switching: bool) -> list[tuple[bytes, bytes]]:
    """The origin's response headers for the viewer: hop-by-hop ones dropped (but a 101's)."""
    return [
        (name, value)
        for name, value in headers
        if name not in HOP_BY_HOP and (switching or name not in (b"connection", b"upgrade"))
    ]


class Closed(Exception):
    """The other side closed its connection, or broke the protocol."""


@dataclass
class Side:
    """One end of the front (the viewer, or the proxy): a stream and its h11 state."""

    conn: h11.Connection
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    last_used: float = field(default_factory=time.monotonic)

    async def next_event(self, timeout_s: float) -> h11.Event | type[h11.PAUSED]:
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as err:
                raise Closed(f"protocol error: {err}") from None
            if event is not h11.NEED_DATA:
                if isinstance(event, h11.ConnectionClosed):
                    raise Closed("closed")
                return cast("h11.Event | type[h11.PAUSED]", event)  # NEED_DATA is handled below
            data = await asyncio.wait_for(self.reader.read(CHUNK), timeout_s)
            try:
                self.conn.receive_data(data)
            except RuntimeError as err:  # data after the peer said it closes
                raise Closed(str(err)) from None

    async def send(self, event: h11.Event) -> None:
        data = self.conn.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass
class Front:
    upstream_host: str
    upstream_port: int
    read_timeout_s: float = READ_TIMEOUT_S
    websocket_idle_s: float = WEBSOCKET_IDLE_S
    keep_alive_s: float = KEEP_ALIVE_S
    edges: Iterator[str] = field(default_factory=edge_addresses)
    requests: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One viewer connection: its requests in turn, each forwarded to the proxy."""
        peer = writer.get_extra_info("peername")
        viewer = str(peer[0]) if peer else "127.0.0.1"
        client = Side(h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES), reader, writer)
        upstream: Side | None = None
        try:
            while True:
                try:
                    event = await client.next_event(self.keep_alive_s)
                except (Closed, TimeoutError, OSError):
                    return
                if not isinstance(event, h11.Request):
                    return
                upstream, go_on = await self._exchange(client, event, viewer, upstream)
                if (
                    not go_on
                    or client.conn.our_state is not h11.DONE
                    or client.conn.their_state is not h11.DONE
                ):
                    return
                client.conn.start_next_cycle()
        finally:
            if upstream is not None:
                upstream.close()
            client.close()

    async def _connect(self, upstream: Side | None) -> Side:
        if upstream is not None:
            fresh = time.monotonic() - upstream.last_used < UPSTREAM_REUSE_S
            if fresh and upstream.conn.our_state is h11.DONE and upstream.conn.their_state is h11.DONE:
                upstream.conn.start_next_cycle()
                return upstream
            upstream.close()
        reader, writer = await asyncio.open_connection(self.upstream_host, self.upstream_port, limit=CHUNK)
        return Side(h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES), reader, writer)

    async def _exchange(
        self, client: Side, request: h11.Request, viewer: str, upstream: Side | None
    ) -> tuple[Side | None, bool]:
        """Forward one request and its answer; (the proxy connection to keep, whether to read another)."""
        started = time.monotonic()
        self.requests += 1
        edge = next(self.edges)
        method, target = request.method.decode(), request.target.decode(errors="replace")
        status = 0
        logged = False
        try:
            try:
                upstream = await self._connect(upstream)
            except OSError as err:
                upstream = None
                status = 502
                await self._answer(client, 502, f"the front cannot reach the hub's proxy: {err}")
                return None, False
            forwarded = h11.Request(
                method=request.method,
                target=request.target,
                headers=forwarded_headers(request.headers, viewer, edge),
            )
            await upstream.send(forwarded)
            body = asyncio.create_task(self._pump_body(client, upstream))
            try:
                status, switched = await self._pump_response(client, upstream, body)
            finally:
                if not body.done():
                    body.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await body
            upstream.last_used = time.monotonic()
            if switched:
                self._log(viewer, edge, method, target, status, started)
                logged, started = True, time.monotonic()
                await self._tunnel(client, upstream)
                log.info(
                    "%s %s websocket %s closed after %.1f s",
                    viewer,
                    edge,
                    _path(target),
                    time.monotonic() - started,
                )
                return upstream, False
            return upstream, True
        except TimeoutError:
            status = status or 504
            if client.conn.our_state is h11.SEND_RESPONSE:
                await self._answer(client, 504, "the hub did not answer in time")
            return upstream, False
        except (Closed, OSError, h11.LocalProtocolError) as err:
            log.info("%s %s: %s", method, _path(target), err)
            if status == 0 and client.conn.our_state is h11.SEND_RESPONSE:
                status = 502
                await self._answer(client, 502, "the hub's proxy closed the connection")
            return upstream, False
        finally:
            if not logged:
                self._log(viewer, edge, method, target, status, started)

    @staticmethod
    def _log(viewer: str, edge: str, method: str, target: str, status: int, started: float) -> None:
        """One line a request: who, through which edge address, what, and the answer's status."""
        log.info(
            "%s %s %s %s %d %.1f ms",
            viewer,
            edge,
            method,
            _path(target),
            status,
            (time.monotonic() - started) * 1000,
        )

    async def _pump_body(self, client: Side, upstream: Side) -> None:
        """The request's body, from the viewer to the proxy (at once: no buffering)."""
        while True:
            event = await client.next_event(self.read_timeout_s)
            if isinstance(event, h11.Data | h11.EndOfMessage):
                await upstream.send(event)
            if isinstance(event, h11.EndOfMessage):
                return

    async def _pump_response(
        self, client: Side, upstream: Side, body: asyncio.Task[None]
    ) -> tuple[int, bool]:
        """The proxy's answer to the viewer; (its status, whether the connection switched to a WebSocket)."""
        status = 0
        while True:
            event = await upstream.next_event(self.read_timeout_s)
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    await body  # the upgrade request has no body: it has been read
                    await client.send(
                        h11.InformationalResponse(
                            status_code=101,
                            headers=response_headers(event.headers, switching=True),
                            reason=event.reason,
                        )
                    )
                    return 101, True
                await client.send(
                    h11.InformationalResponse(
                        status_code=event.status_code,
                        headers=response_headers(event.headers, switching=False),
                        reason=event.reason,
                    )
                )
            elif isinstance(event, h11.Response):
                status = event.status_code
                await client.send(
                    h11.Response(
                        status_code=event.status_code,
                        headers=response_headers(event.headers, switching=False),
                        reason=event.reason,
                    )
                )
            elif isinstance(event, h11.Data):
                await client.send(event)
            elif isinstance(event, h11.EndOfMessage):
                await client.send(h11.EndOfMessage())
                if not body.done():
                    # The proxy answered before the viewer sent all of its body: that body is never read.
                    raise Closed("answered before the request's body ended")
                return status, False

    async def _tunnel(self, client: Side, upstream: Side) -> None:
        """After 101: bytes both ways, untouched, until one side closes or both are idle too long."""
        last = [time.monotonic()]

        async def copy(data: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if data:
                writer.write(data)
                await writer.drain()
            while True:
                chunk = await reader.read(CHUNK)
                if not chunk:
                    return
                last[0] = time.monotonic()
                writer.write(chunk)
                await writer.drain()

        async def watch() -> None:
            while True:
                idle = time.monotonic() - last[0]
                if idle >= self.websocket_idle_s:
                    return
                await asyncio.sleep(self.websocket_idle_s - idle)

        tasks = [
            asyncio.create_task(copy(client.conn.trailing_data[0], client.reader, upstream.writer)),
            asyncio.create_task(copy(upstream.conn.trailing_data[0], upstream.reader, client.writer)),
            asyncio.create_task(watch()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _answer(self, client: Side, status: int, text: str) -> None:
        """The front's own answer (502, 504), as CloudFront gives one."""
        body = f"{status}: {text}\n".encode()
        with contextlib.suppress(Exception):
            await client.send(
                h11.Response(
                    status_code=status,
                    headers=[
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                )
            )
            await client.send(h11.Data(data=body))
            await client.send(h11.EndOfMessage())


def _path(target: str) -> str:
    # Query strings carry OAuth codes and states: the log keeps the path only.
    return target.split("?", 1)[0]


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    return context


async def serve(front: Front, host: str, port: int, context: ssl.SSLContext | None) -> None:
    """Serve until SIGTERM or SIGINT."""
    server = await asyncio.start_server(
        front.handle, host, port, ssl=context, reuse_address=True, backlog=256, limit=CHUNK
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info(
        "front on %s://%s:%d -> http://%s:%d",
        "https" if context else "http",
        host,
        port,
        front.upstream_host,
        front.upstream_port,
    )
    async with server:
        await stop.wait()
    log.info("front stops after %d requests", front.requests)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.front", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=int, required=True, help="the port viewers connect to")
    parser.add_argument("--upstream", type=int, required=True, help="the hub's proxy's port")
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    front = Front(args.host, args.upstream)
    asyncio.run(serve(front, args.host, args.listen, server_context(args.cert, args.key)))


if __name__ == "__main__":
    main()
