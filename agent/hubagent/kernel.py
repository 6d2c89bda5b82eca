"""A participant's Jupyter server and kernel, reached through the hub's proxy as a browser reaches them.

Standard library only (hubagent runs on the instance's python3): the server's REST API over urllib with
the participant's own API token, and the kernel's WebSocket (RFC 6455, the Jupyter messaging protocol in
its JSON form) over a plain socket. The kernel is the participant's own: the participant's server starts
it, in the notebook's folder, with the hub's user environment and under the participant's limits.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import socket
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from hubagent.errors import ActionFailed

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# A message bigger than this (a huge plot, a dataframe printed whole) is read and dropped.
_MAX_MESSAGE = 64 * 1024 * 1024


class SocketClosed(ActionFailed):
    """The kernel's WebSocket closed (the server stopped, or the kernel's channel went away)."""


class WebSocket:
    """A client WebSocket: text messages in and out, pings answered, fragments joined."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float = 30) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "ws" or not parts.hostname:
            raise ActionFailed(f"only ws:// URLs are supported here, not {url!r}")
        port = parts.port or 80
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.sock = socket.create_connection((parts.hostname, port), timeout=timeout)
        self.buffer = b""
        self._kind = 0  # the opcode of a message arriving in fragments
        self._pieces: list[bytes] = []
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {parts.hostname}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n", limit=64 * 1024).decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        answered = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in header_lines)
        }
        if " 101 " not in f"{status_line} ":
            self.sock.close()
            raise ActionFailed(f"the kernel's WebSocket was refused: {status_line.strip()}")
        expected = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()  # noqa: S324 (RFC 6455)
        if answered.get("sec-websocket-accept") != expected:
            self.sock.close()
            raise ActionFailed("the kernel's WebSocket answered with a wrong Sec-WebSocket-Accept")

    def _read_until(self, marker: bytes, limit: int) -> bytes:
        while marker not in self.buffer:
            if len(self.buffer) > limit:
                raise ActionFailed("the WebSocket handshake's answer is too long")
            self._fill()
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise SocketClosed("the kernel's WebSocket was closed by the server")
        self.buffer += chunk

    def _frame(self) -> tuple[int, bool, bytes] | None:
        """The first whole frame in the buffer (opcode, final, payload), taken out of it; None when the
        buffer does not hold a whole frame yet (nothing is taken: a timeout never splits a frame)."""
        data = self.buffer
        if len(data) < 2:
            return None
        first, second = data[0], data[1]
        length, at = second & 0x7F, 2
        if length == 126:
            if len(data) < 4:
                return None
            length, at = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            if len(data) < 10:
                return None
            length, at = struct.unpack("!Q", data[2:10])[0], 10
        if length > _MAX_MESSAGE:
            raise ActionFailed(f"the kernel sent a message of {length} bytes")
        mask = b""
        if second & 0x80:
            if len(data) < at + 4:
                return None
            mask, at = data[at : at + 4], at + 4
        if len(data) < at + length:
            return None
        payload, self.buffer = data[at : at + length], data[at + length :]
        return first & 0x0F, bool(first & 0x80), _masked(payload, mask) if mask else payload

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + _masked(payload, mask))

    def send(self, text: str) -> None:
        self._send_frame(0x1, text.encode())

    def receive(self, timeout: float) -> str | None:
        """The next text message, or None when none came within ``timeout`` seconds (binary messages,
        which carry widget buffers, are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._frame()
            if frame is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.sock.settimeout(left)
                try:
                    self._fill()
                except (TimeoutError, socket.timeout):  # noqa: UP041 (Python 3.10 on the instance)
                    return None
                continue
            opcode, final, payload = frame
            if opcode == 0x8:
                raise SocketClosed("the kernel's WebSocket was closed by the server")
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode in (0x1, 0x2):
                self._kind, self._pieces = opcode, [payload]
            elif opcode == 0x0:
                self._pieces.append(payload)
            if final:
                kind, pieces = self._kind, self._pieces
                self._kind, self._pieces = 0, []
                if kind == 0x1:
                    return b"".join(pieces).decode("utf-8", errors="replace")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send_frame(0x8, struct.pack("!H", 1000))
        self.sock.close()


def _masked(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return payload
    size = len(payload)
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


class UserServer:
    """A participant's Jupyter server through the hub's proxy (``base``: e.g. http://127.0.0.1), with
    the participant's own API token."""

    def __init__(self, base: str, user: str, token: str, timeout: float = 60) -> None:
        self.base = base.rstrip("/")
        self.prefix = f"/user/{urllib.parse.quote(user)}"
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: object = None, ok: tuple[int, ...] = (200, 201, 204)) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (the proxy's http URL, from settings)
            f"{self.base}{self.prefix}{path}", data=data, method=method
        )
        request.add_header("Authorization", f"token {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:  # noqa: S310
                status, raw = reply.status, reply.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        except (urllib.error.URLError, OSError) as err:
            raise ActionFailed(
                f"the participant's server does not answer ({getattr(err, 'reason', err)})"
            ) from None
        if status not in ok:
            text = raw.decode(errors="replace")[:300]
            raise ActionFailed(f"the participant's server answered {method} {path} with {status}: {text}")
        return json.loads(raw) if raw else None

    def kernel_names(self) -> tuple[str, list[str]]:
        specs = self.call("GET", "/api/kernelspecs")
        return str(specs.get("default") or "python3"), sorted(specs.get("kernelspecs") or {})

    def open_notebook(self, path: str, kernel_name: str) -> dict[str, Any]:
        """What JupyterLab does when a notebook is opened: a session, whose kernel starts in its folder."""
        body = {
            "path": path,
            "name": path.rsplit("/", 1)[-1],
            "type": "notebook",
            "kernel": {"name": kernel_name},
        }
        session: dict[str, Any] = self.call("POST", "/api/sessions", body)
        return session

    def session_of(self, path: str) -> dict[str, Any] | None:
        for session in self.call("GET", "/api/sessions") or []:
            if session.get("path") == path:
                return dict(session)
        return None

    def close_notebook(self, session_id: str) -> None:
        self.call("DELETE", f"/api/sessions/{urllib.parse.quote(session_id)}", ok=(204, 404))

    def interrupt(self, kernel_id: str) -> None:
        self.call("POST", f"/api/kernels/{kernel_id}/interrupt", ok=(204, 404))

    def restart(self, kernel_id: str) -> None:
        self.call("POST", f"/api/kernels/{kernel_id}/restart", ok=(200, 404))

    def channels(self, kernel_id: str, session_id: str) -> WebSocket:
        ws_base = "ws" + self.base.removeprefix("http")
        query = urllib.parse.urlencode({"session_id": session_id})
        url = f"{ws_base}{self.prefix}/api/kernels/{kernel_id}/channels?{query}"
        return WebSocket(url, {"Authorization": f"token {self.token}"})


@dataclass
class Reply:
    """What one execute request did: its status, the error if any, whether the kernel died meanwhile."""

    status: str = "ok"  # ok, error, aborted, timeout, died
    ename: str = ""
    evalue: str = ""
    seconds: float = 0.0
    user_expressions: dict[str, Any] = field(default_factory=dict)


class KernelClient:
    """Execute requests over one kernel's WebSocket, each awaited to its reply and idle status."""

    def __init__(self, socket_: WebSocket, session_id: str) -> None:
        self.ws = socket_
        self.session = session_id
        self.died = False  # set when the server reports the kernel restarting or dead

    def _message(self, msg_type: str, content: dict[str, Any], channel: str = "shell") -> tuple[str, str]:
        msg_id = uuid.uuid4().hex
        message = {
            "header": {
                "msg_id": msg_id,
                "msg_type": msg_type,
                "username": "rehearsal",
                "session": self.session,
                "date": dt.datetime.now(dt.timezone.utc).isoformat(),  # noqa: UP017 (Python 3.10 on the instance)
                "version": "5.3",
            },
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": channel,
            "buffers": [],
        }
        return msg_id, json.dumps(message)

    def wait_ready(self, timeout: float = 60) -> None:
        """Ask kernel_info until the kernel answers (it may still be starting)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg_id, text = self._message("kernel_info_request", {})
            self.ws.send(text)
            until = min(deadline, time.monotonic() + 3)
            while time.monotonic() < until:
                message = self._next(until - time.monotonic())
                if message and message.get("msg_type") == "kernel_info_reply" and _parent(message) == msg_id:
                    self.died = False
                    return
        raise ActionFailed(f"the kernel did not answer within {timeout:.0f} s")

    def _next(self, timeout: float) -> dict[str, Any] | None:
        text = self.ws.receive(timeout)
        if text is None:
            return None
        try:
            message = json.loads(text)
        except ValueError:
            return None
        if not isinstance(message, dict):
            return None
        if message.get("msg_type") == "status":
            state = (message.get("content") or {}).get("execution_state")
            if state in ("restarting", "dead"):
                self.died = True
        return message

    def execute(
        self, code: str, timeout: float, *, store_history: bool = True, silent: bool = False,
        user_expressions: dict[str, str] | None = None,
    ) -> Reply:  # fmt: skip
        """Run ``code``; wait for its reply and idle status, at most ``timeout`` seconds (then
        ``status`` is 'timeout' and the caller interrupts the kernel)."""
        msg_id, text = self._message(
            "execute_request",
            {
                "code": code,
                "silent": silent,
                "store_history": store_history,
                "user_expressions": user_expressions or {},
                "allow_stdin": False,
                "stop_on_error": False,
            },
        )
        started = time.monotonic()
        deadline = started + timeout
        self.died = False
        self.ws.send(text)
        reply: dict[str, Any] | None = None
        idle = False
        error: dict[str, Any] = {}
        while not (reply is not None and idle):
            left = deadline - time.monotonic()
            if left <= 0:
                return Reply("timeout", seconds=time.monotonic() - started)
            message = self._next(min(left, 1.0))
            if self.died:
                return Reply("died", seconds=time.monotonic() - started)
            if message is None or _parent(message) != msg_id:
                continue
            kind = message.get("msg_type")
            content = message.get("content") or {}
            if kind == "execute_reply":
                reply = content
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
            elif kind == "error":
                error = content
        seconds = time.monotonic() - started
        status = str(reply.get("status") or "ok")
        source = error or reply
        return Reply(
            status,
            ename=str(source.get("ename") or ""),
            evalue=str(source.get("evalue") or ""),
            seconds=seconds,
            user_expressions=dict(reply.get("user_expressions") or {}),
        )

    def drain(self, timeout: float) -> None:
        """Read what the kernel still sends (after an interrupt) for up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._next(deadline - time.monotonic()) is None:
                return


def _parent(message: dict[str, Any]) -> str:
    return str((message.get("parent_header") or {}).get("msg_id") or "")
