"""hubctl status's check of the participants' address (hubctl/address.py): a real TLS server with a
certificate from the sandbox's CA, trusted or not."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hubctl import address
from sandbox import tls


class HubApi(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        body = json.dumps({"version": "5.5.4"}).encode()
        self.send_response(self.status if self.path == "/hub/api" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _serve(issued: tls.Issued, status: int) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (HubApi,), {"status": status}))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.files.server_cert, issued.files.server_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> tls.Issued:
    return tls.ensure(tmp_path_factory.mktemp("sandbox") / "tls")


@pytest.fixture(scope="module")
def hub(issued: tls.Issued) -> Iterator[str]:
    yield from _serve(issued, 200)


def test_a_hub_answering_over_https_with_a_trusted_certificate(hub: str, issued: tls.Issued) -> None:
    result = address.check(hub + "/", issued.files.ca_cert)
    assert result == {
        "url": f"{hub}/hub/api",
        "ok": True,
        "detail": "answers over https, certificate valid (JupyterHub 5.5.4)",
    }


def test_a_certificate_nobody_told_hubctl_to_trust(hub: str, tmp_path: Path) -> None:
    other = tls.ensure(tmp_path / "other-tls")  # another sandbox's CA
    result = address.check(hub, other.files.ca_cert)
    assert not result["ok"]
    assert result["detail"].startswith(f"its certificate is not trusted against {other.files.ca_cert}")
    assert not address.check(hub)["ok"]  # the system's CAs do not know the sandbox's


def test_plain_http_is_a_problem_before_anything_is_sent() -> None:
    result = address.check("http://203.0.113.10")
    assert not result["ok"] and "not https" in result["detail"]


def test_an_address_where_nothing_answers(tmp_path: Path) -> None:
    result = address.check("https://127.0.0.1:9", timeout_s=2)
    assert not result["ok"] and result["detail"].startswith("does not answer")


def test_a_front_whose_hub_is_down(issued: tls.Issued) -> None:
    for url in _serve(issued, 502):
        result = address.check(url, issued.files.ca_cert)
        assert not result["ok"] and result["detail"].startswith("answers 502")
