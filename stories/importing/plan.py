"""What the check pass keeps for later, on disk, so an import's memory stays flat however long the file is.

- `Plan`: the rows the check pass converted, pickled a batch at a time into a temporary file; the write pass reads
  them back instead of parsing and converting the file again (conversion is about half of a pass, measured).
- `SeenKeys`: every key met so far and the line it was on, to refuse a key given twice in one file. A dict of them
  grew ~200 bytes per row (20 MB for 100,000 rows); here they live in a private temporary SQLite database, which
  SQLite keeps in its page cache (2 MB by default) and spills to a file beyond that.
"""

from __future__ import annotations

import pickle
import sqlite3
import tempfile
from collections.abc import Iterator
from typing import Any

from stories.importing.reading import RawRow

Batch = list[tuple[RawRow, dict[str, Any]]]
_LOOKUP_KEYS = 500  # keys per IN (...) lookup, well under SQLite's limit on parameters


class Plan:
    """Batches of (row, converted values), written once and then read back once, in order."""

    def __init__(self):
        self.file = tempfile.TemporaryFile()

    def add(self, batch: Batch) -> None:
        # The row's raw cells are not needed any more: only what names it in a message.
        slim = [(RawRow(row.location, row.short, {}, row.columns, row.word), values) for row, values in batch]
        pickle.dump(slim, self.file, protocol=pickle.HIGHEST_PROTOCOL)

    def batches(self) -> Iterator[Batch]:
        self.file.seek(0)
        while True:
            try:
                yield pickle.load(self.file)  # noqa: S301 - our own temporary file, written just before
            except EOFError:
                return

    def close(self) -> None:
        self.file.close()


class SeenKeys:
    """The keys of the rows checked so far, with where each was first seen."""

    def __init__(self):
        # "": a private temporary database, deleted when the connection closes.
        self.db = sqlite3.connect("", isolation_level=None)
        self.db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, place TEXT NOT NULL) WITHOUT ROWID")

    def first_places(self, keys: list[str]) -> dict[str, str]:
        """{key: where it was first seen} for those of `keys` already added."""
        found: dict[str, str] = {}
        for start in range(0, len(keys), _LOOKUP_KEYS):
            part = keys[start : start + _LOOKUP_KEYS]
            marks = ",".join("?" * len(part))
            found.update(self.db.execute(f"SELECT key, place FROM seen WHERE key IN ({marks})", part))  # noqa: S608
        return found

    def add(self, places: dict[str, str]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", places.items())

    def close(self) -> None:
        self.db.close()
