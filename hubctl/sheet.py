"""Initial passwords for participants, and the sheet an instructor prints and hands out.

Passwords are 12 characters from letters and digits that cannot be mistaken for one another on paper
(no 0/O, 1/l/I), from the ``secrets`` module. Only their bcrypt hashes (``hashed``) leave this computer:
the hub stores exactly these, as FirstUseAuthenticator stores a password it hashed itself. The sheet is two files, readable by their owner only:
``participants.csv`` (user name, password, hub URL, what they registered as) and ``participants.html``,
one card per participant with the same and a QR code of the hub's login page, to cut apart. Printed on
A4 or Letter every card is whole: one or two columns, as the URL and the names fit (``layout``), and no
card split across pages.
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


# The printed page, for A4 and Letter alike: A4's text width is the narrower (210 mm), Letter's the
# shorter. Cards are inline blocks: a browser never splits one across pages.
TEXT_WIDTH_MM = 210 - 2 * 12  # A4, 12 mm margins
GAP_MM = 4
PAD_MM = 3
QR_MM = 30
MM_PER_PT = 25.4 / 72
MONO_EM = 0.62  # width of a monospace character in em (DejaVu Sans Mono: 0.602), with a little to spare


def _fit_pt(chars: int, width_mm: float, largest: float) -> float:
    """The largest font size (pt, at most ``largest``) at which ``chars`` monospace characters fit."""
    return min(largest, width_mm / (max(chars, 1) * MONO_EM * MM_PER_PT))


@dataclass(frozen=True)
class Layout:
    columns: int
    card_mm: float  # the card's width, border and padding included
    url_pt: float
    name_pt: float


def layout(usernames: Iterable[str], url: str) -> Layout:
    """Two columns when the URL and the longest user name fit a half-width card at a readable size,
    else one: every card's text whole on one line, on A4 and Letter."""
    longest = max([12, *(len(name) for name in usernames)])  # a password is 12 characters
    for columns in (2, 1):
        card = (TEXT_WIDTH_MM - (columns - 1) * GAP_MM) / columns
        inner = card - 2 * PAD_MM - 1
        url_pt = _fit_pt(len(url), inner, 11)
        name_pt = _fit_pt(longest, inner, 15)
        if columns == 1 or (url_pt >= 8 and name_pt >= 10):
            return Layout(columns, round(card - 0.5, 1), round(url_pt, 1), round(name_pt, 1))
    raise AssertionError("unreachable")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
@page {{ size: {paper}; margin: 12mm; }}
body {{ font-family: system-ui, "DejaVu Sans", sans-serif; margin: 0; }}
h1 {{ font-size: 14pt; margin: 0 0 4mm 0; }}
.cards {{ width: {text_mm}mm; max-width: 100%; font-size: 0; }}
.card {{ display: inline-block; vertical-align: top; box-sizing: border-box; width: {card_mm}mm;
  max-width: 100%; margin: 0 {gap_mm}mm {gap_mm}mm 0; padding: {pad_mm}mm; border: 1px dashed #888;
  break-inside: avoid; page-break-inside: avoid; font-size: 10pt; }}
.card:nth-child({columns}n) {{ margin-right: 0; }}
.top {{ display: flex; gap: 3mm; align-items: flex-start; }}
.qr svg {{ width: {qr_mm}mm; height: {qr_mm}mm; display: block; }}
.card h2 {{ font-size: 11pt; margin: 1mm 0; }}
.card dl {{ margin: 2mm 0 0 0; }} .card dt {{ font-size: 8pt; color: #555; }}
.card dd {{ margin: 0 0 1.5mm 0; font-family: "DejaVu Sans Mono", ui-monospace, monospace;
  font-size: {name_pt}pt; white-space: nowrap; }}
.card dd.url {{ font-size: {url_pt}pt; margin-bottom: 0; }}
.rule {{ font-size: 8pt; color: #333; margin: 1mm 0 0 0; }}
</style></head><body>
<h1>{title}</h1>
<div class="cards">
{cards}
</div></body></html>
"""

_CARD = """<section class="card">
<div class="top"><div class="qr">{qr}</div>
<div><h2>{title}</h2><p class="rule">{rule}{registered}</p></div></div>
<dl><dt>User name</dt><dd class="username">{username}</dd><dt>Password</dt><dd class="password">{password}</dd>
<dt>Hub</dt><dd class="url">{url}</dd></dl>
</section>"""


def html_text(
    cards: Iterable[Card], hub_url: str, title: str = "Workshop hub: your login", paper: str = "auto"
) -> str:
    """The sheet: one card per participant (user name, password, the hub's login URL whole, its QR code).
    ``paper``: CSS's page size (``auto``: the printer's; the tests print ``A4`` and ``letter``)."""
    cards = list(cards)
    url = login_url(hub_url)
    qr = _qr_svg(url)
    fit = layout([card.username for card in cards], url)
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
                title=html.escape(title),
                qr=qr,
                url=html.escape(url),
                username=html.escape(card.username),
                password=html.escape(card.password or "your own"),
                rule=rule,
                registered=registered,
            )
        )
    return _PAGE.format(
        title=html.escape(title),
        cards="\n".join(parts),
        paper=paper,
        text_mm=TEXT_WIDTH_MM,
        card_mm=fit.card_mm,
        gap_mm=GAP_MM,
        pad_mm=PAD_MM,
        qr_mm=QR_MM,
        columns=fit.columns,
        url_pt=fit.url_pt,
        name_pt=fit.name_pt,
    )


def write_sheet(folder: Path, cards: list[Card], hub_url: str) -> tuple[Path, Path]:
    """participants.csv and participants.html in ``folder``, both 0600."""
    csv_path, html_path = folder / "participants.csv", folder / "participants.html"
    write_secret(csv_path, csv_text(cards, hub_url))
    write_secret(html_path, html_text(cards, hub_url))
    return csv_path, html_path
