"""How every CSV export is written: RFC 4180 lines a row at a time, cells a spreadsheet cannot run, Gherkin steps
laid out in a cell.

Every cell that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) is
prefixed with `'` (OWASP "CSV Injection"); `excel=True` writes a UTF-8 byte-order mark first so Excel reads accents
and dashes right.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from stories import gherkin

BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """A cell a spreadsheet shows as text: formula-like starts are prefixed with `'` (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_lines(header: Sequence[str], rows: Iterable[Sequence], excel: bool) -> Iterator[str]:
    """The header, then one CSV line per row as the rows come (BOM first for Excel), every cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180 line ends: what Excel, Jira and TestRail expect

    def line(cells) -> str:
        writer.writerow([safe_cell(cell) for cell in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield (BOM if excel else "") + line(header)
    for row in rows:
        yield line(row)


def indented(steps: str) -> str:
    """Steps with their tables indented under their step or `Examples:` line, as a .feature file has them."""
    return "\n".join(" " * extra + line for extra, line in gherkin.indented_steps(steps))
