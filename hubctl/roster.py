"""Reading participants' names from a registration export (CSV) without ever changing one.

The column ``username`` is read by default; ``--column email`` takes the part before '@' of each
address. A name that breaks the hub's rule is reported with its line number, and nothing is sent:
turning 'Ada.Lovelace' into 'adalovelace' silently would give someone a login they do not expect.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from hubagent import rules

from hubctl.errors import BadInput, NotFound


def check_names(names: Iterable[str]) -> list[str]:
    """The names in order, duplicates dropped; BadInput listing every invalid one."""
    problems: list[str] = []
    unique: list[str] = []
    for index, name in enumerate(names):
        try:
            rules.check_username(name, f"usernames[{index}]")
        except rules.RuleError as err:
            problems.append(str(err))
            continue
        if name not in unique:
            unique.append(name)
    if problems:
        raise BadInput(
            f"{len(problems)} user name(s) are not valid; nothing was sent",
            "fix them and run the command again (names are never changed for you)",
            details=problems,
        )
    return unique


def read_csv(path: Path, column: str = "username") -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # Excel writes a byte-order mark
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file", "check the path of the registration export") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(
            f"{path}: cannot read it as UTF-8 text ({err})", "export the roster as CSV (UTF-8)"
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))  # quoted fields may hold newlines
    headers = [h.strip() for h in reader.fieldnames or []]
    matches = [h for h in reader.fieldnames or [] if h.strip().lower() == column.strip().lower()]
    if not matches:
        raise BadInput(
            f"{path}: has no column {column!r} (columns: {', '.join(repr(h) for h in headers) or 'none'})",
            "name the column with --column, e.g. --column email to use the part before '@' of each address",
        )
    key = matches[0]
    from_email = "mail" in column.lower()
    names: list[str] = []
    problems: list[str] = []
    for row in reader:
        raw = (row.get(key) or "").strip()
        value = raw.split("@", 1)[0] if from_email and "@" in raw else raw
        try:
            rules.check_username(value, f"line {reader.line_num}")  # a multi-line record: its last line
        except rules.RuleError as err:
            problems.append(str(err) + (f" (from {raw!r})" if value != raw else ""))
            continue
        if value not in names:
            names.append(value)
    if problems:
        raise BadInput(
            f"{path}: {len(problems)} row(s) have no valid user name; nothing was sent",
            "fix those rows in the file (names are never changed for you) and run the command again",
            details=problems,
        )
    if not names:
        raise BadInput(f"{path}: no user names in column {key!r}", "is it the right file and column?")
    return names
