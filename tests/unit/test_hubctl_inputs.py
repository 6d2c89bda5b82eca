"""hubctl's local parsing: keep-awake times, registration exports, nbgitpuller links and QR codes."""

from __future__ import annotations

import datetime as dt
import io
from urllib.parse import parse_qs, urlsplit

import pytest

from hubctl import link, registrations, times
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
    assert names(registrations.read_csv(path)) == ["ada", "grace"]


def test_a_bom_from_excel_is_fine(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("\ufeffusername\nada\n".encode())
    assert names(registrations.read_csv(path)) == ["ada"]


def names(registrations):
    return [r.username for r in registrations]


@pytest.mark.parametrize(
    ("value", "email", "expected"),
    [
        ("ada@example.org", True, "ada"),
        ("Ada.Lovelace@example.org", True, "ada-lovelace"),
        ("alan.turing@example.org", False, "alan-turing"),  # any value with '@' is an address
        ("José Núñez", False, "jose-nunez"),
        ("  Grace   Hopper ", False, "grace-hopper"),
        ("Jürgen Groß", False, "jurgen-gross"),
        ("Søren Kierkegaard-Æbelø", False, "soren-kierkegaard-aebelo"),
        ("Łukasz Żółć", False, "lukasz-zolc"),
        ("o'brien+ws@uni.ie", True, "obrienws"),
        ("mary-jane..watson@x.org", True, "mary-jane-watson"),
        ("_under_score_@x.org", True, "under_score"),
        ("Dr. No", False, "dr-no"),
        ("a" * 40 + "@x.org", True, "a" * 32),
        (
            "abcdefghijklmnopqrstuvwxyz01234.5678",
            False,
            "abcdefghijklmnopqrstuvwxyz01234",
        ),  # no '-' at the end
        ("李小龍", False, ""),
        ("@x.org", True, ""),
    ],
)
def test_the_username_rule(value, email, expected):
    assert registrations.derive_username(value, email=email) == expected


def test_clashes_get_numbers_in_file_order_and_repeats_are_one_person(tmp_path):
    path = write(
        tmp_path,
        "Name;E-mail\n"
        "Ada;ada.l@uni.org\n"
        "Ada;Ada.L@other.org\n"
        "Ada;ADA.L@UNI.ORG\n"  # the first one again
        "Ada;ada_l@x.org\n"
        "Ada;ada-l@y.org\n",
    )
    regs = registrations.read_csv(path, "e-mail")
    assert [(r.line, r.original, r.username) for r in regs] == [
        (2, "ada.l@uni.org", "ada-l"),
        (3, "Ada.L@other.org", "ada-l-2"),
        (5, "ada_l@x.org", "ada_l"),
        (6, "ada-l@y.org", "ada-l-3"),
    ]
    long = "b" * 32
    clash = write(tmp_path, f"email\n{long}@a.org\n{long}@b.org\n", "long.csv")
    assert names(registrations.read_csv(clash, "email")) == [long, "b" * 30 + "-2"]


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_the_separator_is_detected(tmp_path, sep):
    path = write(tmp_path, f"Full name{sep}Email\nJosé Núñez{sep}jose.nunez@example.org\n")
    assert names(registrations.read_csv(path, "email")) == ["jose-nunez"]
    assert names(registrations.read_csv(path, "full name")) == ["jose-nunez"]


def test_errors_are_one_summary_and_the_first_rows(tmp_path):
    rows = "".join(f"{i},@nowhere.org\n" for i in range(30))
    path = write(tmp_path, "n,email\nada,ada@x.org\n" + rows)
    with pytest.raises(BadInput) as caught:
        registrations.read_csv(path, "email")
    err = caught.value
    assert err.message.startswith(f"{path}: 30 row(s) in column 'email' give no user name")
    assert "nothing was sent" in err.message
    assert len(err.details) == registrations.SHOWN_PROBLEMS + 1
    assert err.details[0] == "line 3: '@nowhere.org' leaves no letter or digit for a user name"
    assert err.details[-1] == "... and 25 more"


def test_invalid_rows_are_reported_with_their_line_numbers(tmp_path):
    path = write(tmp_path, 'username\nada\nAda\n"a\nb"\n\nx y\ngrace\n,\n')
    with pytest.raises(BadInput) as caught:
        registrations.read_csv(path)
    assert [d.split(":")[0] for d in caught.value.details] == ["line 3", "line 5", "line 7", "line 9"]


def test_a_missing_column_lists_the_columns(tmp_path):
    path = write(tmp_path, "name,mail\nAda,a@b.c\n")
    with pytest.raises(BadInput, match=r"has no column 'username'.*'name', 'mail'"):
        registrations.read_csv(path)


def test_a_missing_file(tmp_path):
    with pytest.raises(NotFound):
        registrations.read_csv(tmp_path / "nope.csv")


def test_names_are_checked_not_changed():
    assert registrations.check_names(["ada", "grace", "ada"]) == ["ada", "grace"]
    with pytest.raises(BadInput) as caught:
        registrations.check_names(["ada", "Grace", "x@y"])
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
