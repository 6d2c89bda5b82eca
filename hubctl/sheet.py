"""Initial passwords for participants, and the sheet an instructor prints and hands out.

Passwords are 12 characters from letters and digits that cannot be mistaken for one another on paper
(no 0/O, 1/l/I), from the ``secrets`` module. Only their bcrypt hashes (``hashed``) leave this computer:
the hub stores exactly these, as FirstUseAuthenticator stores a password it hashed itself. The sheet is two files, readable by their owner only:
``participants.csv`` (user name, password, hub URL, what they registered as) and ``participants.html``,
one card per participant with the same and a QR code of the hub's login page, to cut apart.
"""

from __future__ import annotations

import csv
import html
import io
import os
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import segno
from hubagent.files import write_secret

ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
LENGTH = 12
# bcrypt's cost, as FirstUseAuthenticator's own bcrypt.gensalt(): about 0.2 s a hash, so a class of 200
# takes seconds (bcrypt works outside the GIL: one thread per core).
BCRYPT_ROUNDS = 12


def new_password() -> str:
    # at least one letter and one digit, so it reads as a password and not a word
    while True:
        password = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if any(c.isdigit() for c in password) and any(c.isalpha() for c in password):
            return password


def hashed(passwords: dict[str, str]) -> dict[str, str]:
    """name -> bcrypt hash of that name's password, made here: what the hub gets instead of it."""

    def one(password: str) -> str:
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode("ascii")

    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
        return dict(zip(passwords, pool.map(one, passwords.values()), strict=True))


@dataclass(frozen=True)
class Card:
    username: str
    password: str | None  # None: the participant already chose one (kept)
    registered_as: str = ""


def login_url(hub_url: str) -> str:
    return hub_url.rstrip("/") + "/hub/login"


def csv_text(cards: Iterable[Card], hub_url: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["username", "password", "hub_url", "registered_as"])
    for card in cards:
        writer.writerow(
            [card.username, card.password or "(their own)", login_url(hub_url), card.registered_as]
        )
    return out.getvalue()


def _qr_svg(url: str) -> str:
    return str(segno.make(url, error="m").svg_inline(scale=3, border=2))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1cm; }}
.cards {{ display: grid; grid-template-columns: repeat(2, 1fr); gap: 0.6cm; }}
.card {{ border: 1px dashed #888; padding: 0.5cm; break-inside: avoid; display: flex; gap: 0.5cm; }}
.card dl {{ margin: 0; }} .card dt {{ font-size: 0.8em; color: #555; }}
.card dd {{ margin: 0 0 0.2cm 0; font-family: ui-monospace, monospace; font-size: 1.2em; }}
.rule {{ font-size: 0.75em; color: #333; }}
</style></head><body>
<h1>{title}</h1>
<div class="cards">
{cards}
</div></body></html>
"""

_CARD = """<section class="card">
<div class="qr">{qr}</div>
<dl><dt>Hub</dt><dd>{url}</dd><dt>User name</dt><dd class="username">{username}</dd>
<dt>Password</dt><dd class="password">{password}</dd></dl>
<p class="rule">{rule}{registered}</p>
</section>"""


def html_text(cards: Iterable[Card], hub_url: str, title: str = "Workshop hub: your login") -> str:
    url = login_url(hub_url)
    qr = _qr_svg(url)
    parts = []
    for card in cards:
        rule = (
            "Log in with this user name and password."
            if card.password
            else "You chose your password at your first login: use it."
        )
        registered = (
            f" <span class='registered'>(registered as {html.escape(card.registered_as)})</span>"
            if card.registered_as and card.registered_as != card.username
            else ""
        )
        parts.append(
            _CARD.format(
                qr=qr,
                url=html.escape(url),
                username=html.escape(card.username),
                password=html.escape(card.password or "your own"),
                rule=rule,
                registered=registered,
            )
        )
    return _PAGE.format(title=html.escape(title), cards="\n".join(parts))


def write_sheet(folder: Path, cards: list[Card], hub_url: str) -> tuple[Path, Path]:
    """participants.csv and participants.html in ``folder``, both 0600."""
    csv_path, html_path = folder / "participants.csv", folder / "participants.html"
    write_secret(csv_path, csv_text(cards, hub_url))
    write_secret(html_path, html_text(cards, hub_url))
    return csv_path, html_path
