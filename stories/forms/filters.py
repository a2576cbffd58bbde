"""Which stories the stories table shows, and in what order: its search, filters and sort."""

from __future__ import annotations

import json

from django import forms

from stories.models import Priority

UNCOVERED = "uncovered"  # the status filter's "Criteria not covered" (by saved scenarios)


class StoryFilterForm(forms.Form):
    """The stories table's search, filters and sort: one form for the controls above the table, the sortable
    column headers and the URL (bookmarkable, and what the back button restores). A value that is not a choice
    is ignored rather than an error: an old bookmark still shows the table."""

    SORTS = {
        "key": "Sort: key",
        "-key": "Sort: key, last first",
        "title": "Sort: title A→Z",
        "-title": "Sort: title Z→A",
        "priority": "Sort: highest priority",
        "-priority": "Sort: lowest priority",
        "updated": "Sort: recently updated",
        "-updated": "Sort: least recently updated",
    }
    SORTABLE_COLUMNS = {"key": "Key", "title": "Title", "priority": "Priority"}

    q = forms.CharField(required=False, max_length=200)
    project = forms.CharField(required=False, max_length=50)
    status = forms.ChoiceField(required=False)
    priority = forms.ChoiceField(required=False, choices=[("", "Any priority"), *Priority.choices])
    label = forms.CharField(required=False, max_length=100)
    sort = forms.ChoiceField(required=False, choices=list(SORTS.items()))

    def __init__(self, data):
        data = data.copy()
        # Old links said ?has_tests=yes|no: the status filter covers it now.
        legacy = {"yes": "tested", "no": "untested"}.get(data.pop("has_tests", [""])[-1])
        if legacy and not data.get("status"):
            data["status"] = legacy
        super().__init__(data)
        from generation.badges import BADGE_FILTERS  # generation builds on stories: imported when used

        self.fields["status"].choices = [
            ("", "Any status"),
            *BADGE_FILTERS.items(),
            (UNCOVERED, "Criteria not covered"),
        ]

    def values(self) -> dict:
        """The valid filters (invalid ones blank), for the template and `apply`."""
        self.is_valid()
        values = {name: self.cleaned_data.get(name) or "" for name in self.fields}
        values["sort"] = values["sort"] or "key"
        return values

    def choices(self, name: str) -> list[tuple[str, str]]:
        """A choice field's options without its blank "any" option (the template writes that one)."""
        return [(value, label) for value, label in self.fields[name].choices if value]

    def sort_columns(self, query) -> dict[str, dict]:
        """Each sortable column header: its link (the same filters, that sort; a second click reverses it) and
        its `aria-sort` when the table is sorted by it."""
        current = self.values()["sort"]
        columns = {}
        for name, label in self.SORTABLE_COLUMNS.items():
            aria_sort = {name: "ascending", f"-{name}": "descending"}.get(current)
            params = query.copy()
            params["sort"] = f"-{name}" if current == name else name
            params.pop("page", None)
            params.pop("has_tests", None)
            columns[name] = {"name": name, "label": label, "url": f"?{params.urlencode()}", "aria_sort": aria_sort}
        return columns

    def apply(self, stories):
        """`stories` filtered and sorted as asked; grouped by project first, as the table shows them."""
        from generation.badges import filter_by_badge

        values = self.values()
        stories = stories.search(values["q"])
        if values["project"]:
            stories = stories.filter(project__key=values["project"])
        if values["status"] == UNCOVERED:
            stories = stories.with_uncovered_criteria()
        elif values["status"]:
            stories = filter_by_badge(stories, values["status"])
        if values["priority"]:
            stories = stories.filter(priority=values["priority"])
        if values["label"]:
            # Labels are a JSON list: match one whole label ("smoke", not "smoke-test"), on SQLite and PostgreSQL.
            stories = stories.filter(labels__icontains=json.dumps(values["label"]))
        return stories.sorted_by(values["sort"], by_project=True)
