"""hubctl's local parsing: keep-awake times, registration exports, nbgitpuller links and QR codes."""

from __future__ import annotations

import datetime as dt
import io
from urllib.parse import parse_qs, urlsplit

import pytest

from hubctl import link, roster, times
from hubctl.errors import BadInput, NotFound

BERLIN = dt.timezone(dt.timedelta(hours=1))
NOW = dt.datetime(2026, 12, 3, 21, 15, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+3h", "2026-12-04T00:15:00+01:00"),
        ("+90m", "2026-12-03T22:45:00+01:00"),
        ("+1h30m", "2026-12-03T22:45:00+01:00"),
        ("23:30", "2026-12-03T23:30:00+01:00"),
        ("tomorrow 01:00", "2026-12-04T01:00:00+01:00"),
        ("2026-12-03T23:00", "2026-12-03T23:00:00+01:00"),  # no offset: the workshop's time zone
        ("2026-12-03T23:00+00:00", "2026-12-03T23:00:00+00:00"),
        ("2026-12-03T23:00Z", "2026-12-03T23:00:00+00:00"),
    ],
)
def test_keep_awake_times(text, expected):
    assert times.iso(times.parse_until(text, "Europe/Berlin", NOW)) == expected


def test_a_clock_time_is_the_workshops_local_time_not_this_computers():
    # 21:15 in Berlin is 20:15 UTC: '23:30' means Berlin's 23:30 whatever the machine's zone.
    assert (
        times.iso(times.parse_until("23:30", "Europe/Berlin", NOW.astimezone(dt.UTC)))
        == "2026-12-03T23:30:00+01:00"
    )
    assert (
        times.spoken(times.parse_until("23:30", "Europe/Berlin", NOW), "Europe/Berlin")
        == "Thu 03 Dec 23:30 Europe/Berlin"
    )


def test_a_clock_time_already_past_today_is_refused_with_a_hint():
    with pytest.raises(BadInput) as raised:
        times.parse_until("01:00", "Europe/Berlin", NOW)
    assert "already passed today (21:15 Europe/Berlin)" in str(raised.value)
    assert "tomorrow 01:00" in raised.value.hint


@pytest.mark.parametrize("text", ["tonight", "+", "+3d", "25:00", "3h", ""])
def test_times_hubctl_does_not_understand(text):
    with pytest.raises(BadInput):
        times.parse_until(text, "Europe/Berlin", NOW)


def write(tmp_path, text, name="roster.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_username_column_is_read(tmp_path):
    path = write(
        tmp_path, "First name,Username,Email\nAda,ada,ada@example.org\nGrace,grace,g@example.org\nAda,ada,x\n"
    )
    assert roster.read_csv(path) == ["ada", "grace"]


def test_a_bom_from_excel_is_fine(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("\ufeffusername\nada\n".encode())
    assert roster.read_csv(path) == ["ada"]


def test_the_email_column_gives_the_local_part(tmp_path):
    path = write(
        tmp_path, "name,email\nAda,ada@example.org\nAlan,alan.turing@example.org\nBob,bob@example.org\n"
    )
    with pytest.raises(BadInput) as caught:
        roster.read_csv(path, "email")
    err = caught.value
    assert "nothing was sent" in err.message
    assert err.details == [
        "line 3: 'alan.turing' is not a valid hub user name: use 1-32 lowercase letters, digits, '-' or '_', "
        "starting and ending with a letter or digit (JupyterHub lowercases names and TLJH makes each one the "
        "unix user 'jupyter-NAME', so capitals, dots, '@' and spaces are refused rather than changed) "
        "(from 'alan.turing@example.org')"
    ]


def test_invalid_rows_are_reported_with_their_line_numbers(tmp_path):
    path = write(tmp_path, 'username\nada\nAda\n"a\nb"\n\nx y\ngrace\n,\n')
    with pytest.raises(BadInput) as caught:
        roster.read_csv(path)
    assert [d.split(":")[0] for d in caught.value.details] == ["line 3", "line 5", "line 7", "line 9"]


def test_a_missing_column_lists_the_columns(tmp_path):
    path = write(tmp_path, "name,mail\nAda,a@b.c\n")
    with pytest.raises(BadInput, match=r"has no column 'username'.*'name', 'mail'"):
        roster.read_csv(path)


def test_a_missing_file(tmp_path):
    with pytest.raises(NotFound):
        roster.read_csv(tmp_path / "nope.csv")


def test_names_are_checked_not_changed():
    assert roster.check_names(["ada", "grace", "ada"]) == ["ada", "grace"]
    with pytest.raises(BadInput) as caught:
        roster.check_names(["ada", "Grace", "x@y"])
    assert [d.split(":")[0] for d in caught.value.details] == ["usernames[1]", "usernames[2]"]


def test_the_nbgitpuller_link():
    url = link.nbgitpuller_link(
        "https://hub.example.org/", "https://github.com/org/course", "main", "week 1/intro.ipynb"
    )
    parts = urlsplit(url)
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://hub.example.org/hub/user-redirect/git-pull"
    )
    assert parse_qs(parts.query) == {
        "repo": ["https://github.com/org/course"],
        "branch": ["main"],
        "urlpath": ["lab/tree/course/week 1/intro.ipynb"],
    }
    assert "repo=https%3A%2F%2Fgithub.com%2Forg%2Fcourse" in url


def test_the_link_omits_an_unset_branch_and_keeps_a_git_suffix():
    url = link.nbgitpuller_link("http://203.0.113.10", "https://example.org/x/notes.git")
    assert "branch=" not in url
    assert parse_qs(urlsplit(url).query)["urlpath"] == ["lab/tree/notes.git/"]


@pytest.mark.parametrize("notebook", ["/etc/passwd", "../x.ipynb", "a/../../b"])
def test_a_notebook_outside_the_repo_is_refused(notebook):
    with pytest.raises(BadInput):
        link.nbgitpuller_link("http://h", "https://github.com/o/r", None, notebook)


def test_qr_codes(tmp_path):
    out = io.StringIO()
    link.print_qr("https://hub.example.org/hub/user-redirect/git-pull?repo=x", out)
    assert "█" in out.getvalue()
    png = tmp_path / "link.png"
    link.save_png("https://hub.example.org/", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(BadInput):
        link.save_png("https://hub.example.org/", tmp_path / "link.jpg")
