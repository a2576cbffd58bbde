"""Fields for values the forms read as text: JSON lists typed in one box (criteria a blank line apart, labels
separated by commas, Gherkin tags) and story keys sent as repeated parameters."""

from __future__ import annotations

import re

from django import forms

from stories import gherkin
from stories.keys import normalise_key
from stories.models import normalise_criterion


class _ListField(forms.CharField):
    """Base for list values typed as text: compares parsed lists, so an untouched blank form counts as unchanged."""

    def has_changed(self, initial, data) -> bool:
        return self.to_python(initial if initial is not None else "") != self.to_python(data)


class CriteriaField(_ListField):
    """Acceptance criteria edited in one textarea, a blank line between criteria.

    A criterion may span several lines (a Given/When/Then block is one criterion), so a line break alone cannot
    separate criteria: the form shows them apart by a blank line and reads them back the same way, and a save that
    touches nothing leaves the list exactly as it was.
    """

    widget = forms.Textarea(attrs={"rows": 8})
    _BLANK_LINE = re.compile(r"\n[ \t]*\n")

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n\n".join(normalise_criterion(str(v)) for v in value)
        return value

    def to_python(self, value) -> list[str]:
        if isinstance(value, list):
            items = [str(v) for v in value]
        else:
            text = (super().to_python(value) or "").replace("\r\n", "\n").replace("\r", "\n")
            items = self._BLANK_LINE.split(text)
        return [item for item in (normalise_criterion(i) for i in items) if item]


class CommaSeparatedField(_ListField):
    """A list of short texts typed as 'checkout, cart'."""

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value) -> list[str]:
        if isinstance(value, list):
            items = [str(v) for v in value]
        else:
            items = (super().to_python(value) or "").split(",")
        result: list[str] = []
        for item in (i.strip() for i in items):
            if item and item not in result:
                result.append(item)
        return result


class TagsField(_ListField):
    """Gherkin tags typed as '@smoke @cart' or 'smoke, cart'."""

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return " ".join(value)
        return value

    def to_python(self, value) -> list[str]:
        if isinstance(value, list):
            return gherkin.clean_tags(value)
        return gherkin.clean_tags(super().to_python(value) or "")


class KeyListField(forms.Field):
    """Story keys sent as repeated parameters (`?stories=SHOP-1&stories=SHOP-2`), normalised, in order, once each."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[str]:
        values = value if isinstance(value, list | tuple) else [value] if value else []
        return list(dict.fromkeys(normalise_key(str(v)) for v in values if str(v).strip()))
