"""The password sheet prints whole: headless Chromium prints it to PDF on A4 and on Letter, and the PDF's
own text (pdftotext, from poppler-utils) holds every card's user name, password and full hub URL, each
card on one page, every word inside the page."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hubctl import sheet

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PDFTOTEXT = shutil.which("pdftotext") or "/usr/bin/pdftotext"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(PDFTOTEXT).exists()),
    reason="needs chromium and pdftotext (make setup installs chromium and poppler-utils)",
)

CLOUDFRONT = "https://d1a2b3c4d5e6f7.cloudfront.net"  # HubUrl on AWS: 47 characters with /hub/login
LONG_DOMAIN = "https://workshop-hub.department-of-geography.example-university.ac.uk"


def cards(count: int) -> list[sheet.Card]:
    made = [
        sheet.Card(f"participant-{i:02d}", sheet.new_password(), f"Participant {i}@uni.example")
        for i in range(count)
    ]
    # the longest names a hub takes (32 characters), and one who chose her own password
    made[1] = sheet.Card("a-very-long-participant-name-0032", sheet.new_password())
    made[2] = sheet.Card("grace", None)
    return made


def print_pdf(html: str, folder: Path) -> Path:
    page = folder / "participants.html"
    page.write_text(html, encoding="utf-8")
    pdf = folder / "participants.pdf"
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={folder / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and pdf.exists(), done.stderr[-2000:]
    return pdf


def pages(pdf: Path) -> list[str]:
    """Each page's text, as pdftotext reads it (pages end with a form feed)."""
    text = subprocess.run(
        [PDFTOTEXT, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")


def words_outside_the_page(pdf: Path) -> list[str]:
    """Words whose box reaches past their page's edges (pdftotext -bbox: what was cut off)."""
    xhtml = subprocess.run(
        [PDFTOTEXT, "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    root = ET.fromstring(re.sub(r'xmlns="[^"]+"', "", xhtml, count=1))
    outside = []
    for page in root.iter("page"):
        width, height = float(page.get("width", 0)), float(page.get("height", 0))
        for word in page.iter("word"):
            box = [float(word.get(k, 0)) for k in ("xMin", "yMin", "xMax", "yMax")]
            if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
                outside.append(word.text or "")
    return outside


@pytest.mark.parametrize("paper", ["A4", "letter"])
@pytest.mark.parametrize("hub_url", [CLOUDFRONT, "http://127.0.0.1:8000", LONG_DOMAIN])
def test_every_card_prints_whole(tmp_path: Path, paper: str, hub_url: str) -> None:
    made = cards(13)
    pdf = print_pdf(sheet.html_text(made, hub_url, paper=paper), tmp_path)
    url = sheet.login_url(hub_url)
    texts = pages(pdf)
    assert len([t for t in texts if t.strip()]) >= 2  # 13 cards: page breaks, between cards
    for card in made:
        holding = [t for t in texts if re.search(rf"(?<![\w-]){re.escape(card.username)}(?![\w-])", t)]
        assert len(holding) == 1, (card.username, paper, hub_url)  # on one page, not split
        page = holding[0]
        assert (card.password or "your own") in page, (card.username, paper)
        assert url in page, (card.username, paper, hub_url)  # the whole URL, not cut at the edge
    assert words_outside_the_page(pdf) == []


def test_the_columns_follow_what_fits() -> None:
    names = [card.username for card in cards(3)]
    assert sheet.layout(names, sheet.login_url(CLOUDFRONT)).columns == 2
    assert sheet.layout(names, sheet.login_url("http://127.0.0.1:8000")).columns == 2
    long_url = sheet.layout(names, sheet.login_url(LONG_DOMAIN))
    assert long_url.columns == 1 and long_url.url_pt >= 8
