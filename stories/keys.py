"""Project and story keys: one spelling (upper case) on every path, and a sort order people expect (SHOP-2 before
SHOP-10).

Both rules live in the model fields, so the story form, the admin, the importer, the API and plain ORM calls all get
them without remembering to: `KeyField` upper-cases what is saved and what is looked up (`key="shop-11"` finds
SHOP-11), and `NaturalSortField` stores a sort key computed from the key on every save and bulk_create.
"""

from __future__ import annotations

import re

from django.db import models

NUMBER_WIDTH = 10
# Stories sort by this, then by the key itself (two keys that differ only in punctuation share a sort key).
NATURAL_ORDER = ["key_sort", "key"]

_RUNS = re.compile(r"\d+|[A-Z]+")


def normalise_key(value: str) -> str:
    return value.strip().upper()


def prefix_warning(key: str, project_key: str) -> str:
    """A word for a story key that does not start with its project's key ("" when it does, or has no prefix).

    Allowed — a story moved between Jira projects keeps its key — but worth a look in case it is a typo."""
    prefix = normalise_key(key).rpartition("-")[0]
    if not project_key or not prefix or prefix == project_key:
        return ""
    return (
        f"{normalise_key(key)} does not start with {project_key}-, the project's key: fine for a story moved from "
        "another project, otherwise check for a typo. It is saved as typed."
    )


def natural_sort_key(key: str) -> str:
    """The key with its numbers zero-padded and its punctuation dropped: SHOP-2 -> SHOP0000000002.

    Only capital letters and digits are kept because they sort the same under every database collation (SQLite's
    binary order, PostgreSQL's C or a locale such as en_US, which would skip '-' and '_' but not letters or digits):
    a plain ORDER BY on this column is natural order everywhere, and it can be indexed.
    """
    return "".join(run.zfill(NUMBER_WIDTH) if run[0].isdigit() else run for run in _RUNS.findall(normalise_key(key)))


class KeyField(models.CharField):
    """A key stored in upper case. Lookups are upper-cased too, so `shop-11` and `SHOP-11` are the same key."""

    def to_python(self, value):
        value = super().to_python(value)
        return normalise_key(value) if isinstance(value, str) else value

    def pre_save(self, model_instance, add):
        value = self.to_python(getattr(model_instance, self.attname))
        setattr(model_instance, self.attname, value)
        return value


class NaturalSortField(models.CharField):
    """The natural sort key of another field of the same row, recomputed whenever the row is saved."""

    def __init__(self, *args, source: str = "key", **kwargs):
        self.source = source
        kwargs.setdefault("max_length", 300)  # a 50-character key of single digits pads to 25 × 10
        kwargs.setdefault("editable", False)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        for option, default in (("max_length", 300), ("editable", False), ("default", "")):
            if kwargs.get(option, default) == default:
                kwargs.pop(option, None)
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        # Runs for save() and for bulk_create(), as auto_now does.
        value = natural_sort_key(getattr(model_instance, self.source) or "")
        setattr(model_instance, self.attname, value)
        return value
