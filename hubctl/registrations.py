"""Participants' names from a registration export (CSV), and the rule that makes hub user names of them.

Names typed on the command line, and the CSV column ``username`` (the default), are checked and never
changed. Any other column (``--column email``, ``--column name``...) holds what people typed when
they registered, so each value is turned into a hub user name by one predictable rule:

1. an e-mail address (``--column email``, a column whose name holds "mail", or any value with '@'):
   only the part before '@';
2. letters to ASCII: accents dropped (``é`` -> ``e``), ``ß`` -> ``ss``, ``æ`` -> ``ae``, ``ø`` -> ``o``,
   ``ł`` -> ``l``, ``đ`` -> ``d``, ``œ`` -> ``oe``, ``þ`` -> ``th``;
3. lower case; '.', spaces and '-' become '-' (runs of them one '-'); every other character that a hub
   user name cannot hold is dropped ('+', '@', apostrophes, ...); '-' and '_' at either end dropped;
4. at most 32 characters;
5. clashes in file order: the first row keeps the name, the next ones get ``-2``, ``-3``... (cut so
   the whole stays within 32 characters). A value that repeats (same address, any case) is one person.

``Ada.Lovelace@example.org`` -> ``ada-lovelace``; ``José Núñez`` -> ``jose-nunez``;
``o'brien+ws@uni.ie`` -> ``obrienws``. A value from which nothing is left is an error naming its line.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from hubagent import rules

from hubctl.errors import BadInput, NotFound

SHOWN_PROBLEMS = 5  # errors: one summary line and the first few rows
SEPARATORS = (",", ";", "\t")
_SPECIAL = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d"}
    | {"œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th", "\u0131": "i"}
)
MAX = 32


@dataclass(frozen=True)
class Registration:
    line: int  # in the file; 0 for names from the command line
    original: str
    username: str
    # later rows that registered the same (any case): one person, merged into this one; (line, as typed)
    duplicates: tuple[tuple[int, str], ...] = ()

    @property
    def changed(self) -> bool:
        return self.original != self.username


def derive_username(value: str, *, email: bool = False) -> str:
    """The hub user name the rule above makes of ``value`` (before clashes); '' when nothing is left."""
    text = value.strip()
    if email or "@" in text:
        text = text.split("@", 1)[0]
    text = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"[.\s-]+", "-", text)
    text = re.sub(r"[^a-z0-9_-]", "", text)
    text = re.sub(r"-{2,}", "-", text)
    return text.strip("-_")[:MAX].rstrip("-_")


def with_suffix(base: str, number: int) -> str:
    suffix = f"-{number}"
    return base[: MAX - len(suffix)].rstrip("-_") + suffix


def resolve_clashes(derived: Iterable[tuple[int, str, str]]) -> list[Registration]:
    """(line, original, derived name) in file order -> registrations with unique names."""
    taken: set[str] = set()
    seen: dict[str, int] = {}  # what was registered -> its index in out
    out: list[Registration] = []
    for line, original, base in derived:
        key = original.strip().casefold()
        if key in seen:  # the same person registered twice: merged, and kept in sight for the dry run
            first = out[seen[key]]
            out[seen[key]] = replace(first, duplicates=(*first.duplicates, (line, original.strip())))
            continue
        name, number = base, 1
        while name in taken:
            number += 1
            name = with_suffix(base, number)
        taken.add(name)
        seen[key] = len(out)
        out.append(Registration(line, original.strip(), name))
    return out


def check_names(names: Iterable[str]) -> list[str]:
    """The names in order, duplicates dropped; BadInput listing every invalid one."""
    problems: list[str] = []
    unique: list[str] = []
    for index, name in enumerate(names):
        try:
            rules.check_participant_name(name, f"usernames[{index}]")
        except rules.RuleError as err:
            problems.append(str(err))
            continue
        if name not in unique:
            unique.append(name)
    if problems:
        raise _problems(
            f"{len(problems)} user name(s) are not valid; nothing was sent",
            "fix them and run the command again (names given as arguments are never changed)",
            problems,
        )
    return unique


def _problems(summary: str, hint: str, problems: list[str]) -> BadInput:
    shown = problems[:SHOWN_PROBLEMS]
    if len(problems) > SHOWN_PROBLEMS:
        shown.append(f"... and {len(problems) - SHOWN_PROBLEMS} more")
    return BadInput(summary, hint, details=shown)


def separator(header_line: str) -> str:
    """',' ';' or tab: the one the header line has most of (spreadsheets in many locales write ';')."""
    counts = {sep: header_line.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # Excel writes a byte-order mark
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file", "check the path of the registration export") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(
            f"{path}: cannot read it as UTF-8 text ({err})", "export the roster as CSV (UTF-8)"
        ) from None


def read_csv(path: Path, column: str = "username") -> list[Registration]:
    """Every row's registration, in file order; BadInput (nothing sent) when a row gives no name."""
    text = read_text(path)
    first_line = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=separator(first_line))
    headers = [h.strip() for h in reader.fieldnames or []]
    matches = [h for h in reader.fieldnames or [] if h.strip().lower() == column.strip().lower()]
    if not matches:
        raise BadInput(
            f"{path}: has no column {column!r} (columns: {', '.join(repr(h) for h in headers) or 'none'})",
            "name the column with --column, e.g. --column email (each address becomes a user name)",
        )
    key = matches[0]
    strict = key.strip().lower() == "username"
    email = "mail" in key.lower()
    derived: list[tuple[int, str, str]] = []
    problems: list[str] = []
    for row in reader:
        raw = (row.get(key) or "").strip()
        line = reader.line_num  # a multi-line record: its last line
        if strict:
            try:
                derived.append((line, raw, rules.check_participant_name(raw, f"line {line}")))
            except rules.RuleError as err:
                problems.append(str(err).split(": use ")[0])
            continue
        name = derive_username(raw, email=email)
        if not name:
            problems.append(f"line {line}: {rules.shown(raw)} leaves no letter or digit for a user name")
        else:
            derived.append((line, raw, name))
    if problems:
        rule = (
            "1-32 of a-z 0-9 - _, starting and ending with a letter or digit"
            if strict
            else "an e-mail address or a name with at least one letter or digit"
        )
        raise _problems(
            f"{path}: {len(problems)} row(s) in column {key!r} give no user name ({rule}); nothing was sent",
            "fix those rows, or use --column email / --column name to derive names (hubctl users add --help)",
            problems,
        )
    registrations = resolve_clashes(derived)
    if not registrations:
        raise BadInput(f"{path}: no user names in column {key!r}", "is it the right file and column?")
    return registrations
