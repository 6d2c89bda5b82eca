"""What ``hubctl rehearse`` prints: the rehearsal's report in lines of at most 80 columns.

Pure functions from the operation's result (kinds/rehearse.py) to text; every string that came from the
notebooks (names, errors, hints) is shown with its escapes written out (views.shown): a notebook may hold terminal
escapes. The categories' words are hubagent's own (faults.CATEGORIES).
"""

from __future__ import annotations

from typing import Any

from hubagent.faults import CATEGORIES

from hubctl.views import MIB, shown, wrapped

__all__ = ["failed_notebooks", "notebook_line", "report_lines", "wrapped"]

NAME_WIDTH = 40


def failed_notebooks(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in result.get("notebooks") or [] if n.get("failed") or n.get("error")]


def _seconds(value: object) -> str:
    return f"{float(value):.1f} s" if isinstance(value, int | float) else "-"


def _name(value: object) -> str:
    text = shown(str(value or "?"))
    return text if len(text) <= NAME_WIDTH else "…" + text[-(NAME_WIDTH - 1) :]


def notebook_line(notebook: dict[str, Any]) -> str:
    """'02-clean.ipynb    4/4 ran  2 failed  57 MiB  1.5 s' (the columns of the table below)."""
    name = _name(notebook.get("name"))
    if notebook.get("error") and not notebook.get("ran"):
        return f"{name:<{NAME_WIDTH}} did not run"
    code = notebook.get("code_cells")
    empty = int(notebook.get("empty_cells") or 0)
    cells = (
        f"{notebook.get('ran', 0)}/{int(code) - empty}"
        if isinstance(code, int)
        else str(notebook.get("ran", 0))
    )
    failed = int(notebook.get("failed") or 0)
    peak = notebook.get("peak_bytes")
    peak_text = f"{peak / MIB:.0f}" if isinstance(peak, int | float) and peak else "-"
    seconds = float(notebook.get("code_seconds") or 0) + float(notebook.get("import_seconds") or 0)
    return f"{name:<{NAME_WIDTH}} {cells:>7} {failed:>6} {peak_text:>8} {_seconds(seconds):>8}"


HEADER = f"{'notebook':<{NAME_WIDTH}} {'ran':>7} {'failed':>6} {'peak MiB':>8} {'time':>8}"


def report_lines(result: dict[str, Any]) -> list[str]:
    """The whole report: what was walked, one line per notebook, then each failure with its hint."""
    lines: list[str] = []
    repo = shown(str(result.get("repo") or "?"))
    branch = f" ({shown(str(result['branch']))})" if result.get("branch") else ""
    lines.append(f"rehearsed {repo}{branch}")
    who = shown(str(result.get("participant") or "a throwaway participant"))
    folder = shown(str(result.get("folder") or "?"))
    data = ", ".join(shown(str(d)) for d in result.get("data") or []) or "none"
    lines.append(f"as {who}, not an admin: the link put the notebooks in ~/{folder}; data: {data}")
    removed = result.get("removed") or {}
    if removed.get("done") is False:
        lines.append(
            f"NOT removed afterwards ({shown(str(removed.get('error')))}); the next rehearsal removes it"
        )
    lines.append("")
    lines.append(HEADER)
    notebooks = result.get("notebooks") or []
    for notebook in notebooks:
        lines.append(notebook_line(notebook))
    totals = result.get("totals") or {}
    lines.append(
        f"{totals.get('cells_ran', 0)} code cells ran, {totals.get('cells_failed', 0)} failed, in "
        f"{totals.get('notebooks', len(notebooks))} notebooks ({totals.get('failed_notebooks', 0)} with a failure); "
        f"each cell may run {result.get('cell_timeout', '?')} s"
    )
    for notebook in notebooks:
        failures = notebook.get("failures") or []
        if not failures and not notebook.get("error") and not notebook.get("kernel_note"):
            continue
        lines.append("")
        lines.append(_name(notebook.get("name")))
        if notebook.get("kernel_note"):
            lines.append(f"  note: {shown(str(notebook['kernel_note']))}")
        if notebook.get("error"):
            lines.append(f"  {shown(str(notebook['error']))}")
        for failure in failures:
            words = CATEGORIES.get(str(failure.get("category")), shown(str(failure.get("category"))))
            lines.append(f"  cell {failure.get('cell', '?')}: {words}")
            if failure.get("error"):
                lines.append(f"    {shown(str(failure['error']))}")
            if failure.get("hint"):
                lines.append(f"    hint: {shown(str(failure['hint']))}")
        if notebook.get("failures_complete") is False:
            lines.append("  (some failures are shown short: the report has a size limit)")
    return lines
