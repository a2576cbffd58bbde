"""Forms for stories and test cases. JSON list fields are edited as plain text: criteria a blank line apart, labels
and tags separated by commas."""

from __future__ import annotations

import json
import re

from django import forms
from django.conf import settings
from django.db import transaction
from django.forms.models import BaseInlineFormSet, inlineformset_factory

from stories import exporting, gherkin, permissions
from stories.keys import normalise_key, prefix_warning
from stories.models import (
    Priority,
    Project,
    Role,
    Scenario,
    TestCase,
    UserStory,
    normalise_criterion,
    project_key_validator,
)

# Paths under /stories/ that a story key would shadow.
RESERVED_STORY_KEYS = {"new", "test-cases", "import", "export"}


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


class StoryForm(forms.ModelForm):
    acceptance_criteria = CriteriaField(
        required=False,
        help_text="A blank line between criteria; one criterion may span several lines (Given / When / Then).",
    )
    labels = CommaSeparatedField(required=False, help_text="Separated by commas, e.g. checkout, mobile.")

    class Meta:
        model = UserStory
        fields = [
            "project",
            "key",
            "title",
            "description",
            "acceptance_criteria",
            "priority",
            "status",
            "labels",
            "external_url",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}
        labels = {"external_url": "External link"}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Only projects the user may add stories to (a story cannot be moved into a project the user only reads).
        self.fields["project"].queryset = permissions.editable_projects(user)
        self.fields["project"].empty_label = "— no project —"
        self.fields["key"].widget.attrs["aria-describedby"] = "key-warning"  # story_form.html: said while typing

    def clean_key(self) -> str:
        key = normalise_key(self.cleaned_data["key"])
        if key.lower() in RESERVED_STORY_KEYS:
            raise forms.ValidationError(f"'{key}' is reserved; choose another key.")
        return key

    def key_warning(self) -> str:
        """A word when the key does not start with the project's key (stories.keys.prefix_warning), from what the
        form shows — typed, or stored — so the page can say it beside the key field before anything is saved."""
        try:
            project = self.fields["project"].clean(self["project"].value())
        except forms.ValidationError:
            return ""  # no project the user may choose: the form's own error says so
        return prefix_warning(str(self["key"].value() or ""), project.key if project else "")


class TestCaseForm(forms.ModelForm):
    class Meta:
        model = TestCase
        fields = ["title", "objective", "preconditions", "test_type", "priority", "status"]
        widgets = {
            "objective": forms.Textarea(attrs={"rows": 2}),
            "preconditions": forms.Textarea(attrs={"rows": 2}),
        }


class ScenarioForm(forms.ModelForm):
    tags = TagsField(required=False, help_text="e.g. @smoke @cart")

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.has_error("name") and self.has_error("steps"):
            # The model's Gherkin check ran without the refused name and blamed the steps for a missing one: the
            # name's own error already says what is wrong.
            nameless = set(gherkin.scenario_problems(gherkin.ScenarioText("", "Given a\nThen b", [])))
            kept = [message for message in self.errors["steps"] if message not in nameless]
            if kept:
                self.errors["steps"] = self.error_class(kept)
            else:
                del self.errors["steps"]

    class Meta:
        model = Scenario
        fields = ["name", "steps", "tags"]
        widgets = {
            "steps": forms.Textarea(
                attrs={"rows": 5, "class": "gherkin-input", "placeholder": "Given …\nWhen …\nThen …"}
            )
        }
        help_texts = {"steps": "One step a line, starting with Given, When, Then, And or But."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Tall enough for every line (an outline's Examples table is edited here too), within reason.
        widget = self.fields["steps"].widget
        lines = len(str(self["steps"].value() or "").splitlines())
        widget.attrs["rows"] = max(int(widget.attrs.get("rows", 4)), min(lines + 1, 16))
        if gherkin.is_outline(str(self["steps"].value() or "")):
            widget.attrs["wrap"] = "off"  # the Examples table's columns stay aligned, even on a phone


class BaseScenarioFormSet(BaseInlineFormSet):
    default_error_messages = {
        **BaseInlineFormSet.default_error_messages,
        "too_few_forms": "A test case needs at least one scenario.",
    }

    def kept_forms(self) -> list[forms.ModelForm]:
        """Filled-in forms not marked for deletion, in the order shown."""
        return [
            form
            for form in self.forms
            if (form.instance.pk or form.has_changed()) and not self._should_delete_form(form)
        ]

    def save_in_order(self) -> None:
        """Save the scenarios with `position` following the order of the forms; delete the ticked ones."""
        for form in self.forms:
            if form.instance.pk and self._should_delete_form(form):
                form.instance.delete()
        for position, form in enumerate(self.kept_forms()):
            scenario = form.save(commit=False)
            scenario.test_case = self.instance
            scenario.position = position
            scenario.save()


def _scenario_formset(extra: int) -> type[BaseScenarioFormSet]:
    return inlineformset_factory(
        TestCase,
        Scenario,
        form=ScenarioForm,
        formset=BaseScenarioFormSet,
        extra=extra,
        min_num=1,
        validate_min=True,
        can_delete=True,
    )


# A new test case starts with one scenario form; an existing one shows its scenarios plus one blank form, so adding a
# scenario also works without JavaScript (app.js adds more blank forms on demand).
NewScenarioFormSet = _scenario_formset(extra=0)
ScenarioFormSet = _scenario_formset(extra=1)


def scenario_formset(test_case: TestCase, data=None) -> BaseScenarioFormSet:
    formset_class = ScenarioFormSet if test_case.pk else NewScenarioFormSet
    return formset_class(data, instance=test_case, prefix="scenarios")


@transaction.atomic
def save_test_case(form: TestCaseForm, formset: BaseScenarioFormSet) -> TestCase:
    """Save a valid test case form and its scenario formset as one unit."""
    test_case = form.save()
    formset.instance = test_case
    formset.save_in_order()
    return test_case


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


IMPORT_FORMATS = [
    ("auto", "Recognise it"),
    ("jira", "Jira CSV export"),
    ("ado", "Azure DevOps CSV export"),
    ("github", "GitHub issues JSON"),
    ("csv", "QAForge CSV"),
    ("json", "QAForge JSON"),
]
IMPORT_SUFFIXES = (".csv", ".tsv", ".txt", ".json")


class ImportForm(forms.Form):
    """The import page: the file, where its stories go, and how to read it."""

    file = forms.FileField(help_text="CSV or JSON, up to 50 MB: a Jira or Azure DevOps CSV export, GitHub issues JSON…")
    project = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="— as in the file, or new —",
        help_text="Stories the file leaves without a project go here; numeric ids (Azure DevOps, GitHub) get its key.",
    )
    new_project_key = forms.CharField(label="…or a new project key", required=False, max_length=20)
    new_project_name = forms.CharField(label="New project name", required=False, max_length=200)
    format = forms.ChoiceField(choices=IMPORT_FORMATS, initial="auto")
    types = forms.CharField(
        label="Only these types", required=False, max_length=300, help_text="e.g. Story, Bug — empty imports all."
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = permissions.editable_projects(user)
        self.fields["file"].help_text = (
            f"CSV or JSON, up to {settings.QAFORGE_IMPORT_MAX_BYTES // (1024 * 1024)} MB: a Jira or Azure DevOps "
            "CSV export, GitHub issues JSON, or QAForge's own CSV/JSON."
        )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.QAFORGE_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {upload.size / 1024 / 1024:.1f} MB; at most {limit // (1024 * 1024)} MB can be imported."
            )
        if not upload.name.lower().endswith(IMPORT_SUFFIXES):
            raise forms.ValidationError("Choose a .csv or .json file (a tracker's CSV export or JSON).")
        return upload

    def clean_new_project_key(self) -> str:
        key = normalise_key(self.cleaned_data["new_project_key"])
        if key:
            project_key_validator(key)
            if Project.objects.filter(key=key).exists():
                raise forms.ValidationError(f"Project {key} exists already: choose it in the list above.")
        return key

    def clean_types(self) -> str:
        return ",".join(t.strip() for t in self.cleaned_data["types"].split(",") if t.strip())

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("project") and cleaned.get("new_project_key"):
            self.add_error("new_project_key", "Choose an existing project or type a new key, not both.")
        return cleaned


class KeyListField(forms.Field):
    """Story keys sent as repeated parameters (`?stories=SHOP-1&stories=SHOP-2`), normalised, in order, once each."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[str]:
        values = value if isinstance(value, list | tuple) else [value] if value else []
        return list(dict.fromkeys(normalise_key(str(v)) for v in values if str(v).strip()))


class ExportForm(forms.Form):
    """What to export (story keys and/or a project, limited to what `user` may see) and how: the export dialog and
    the download read this one form."""

    stories = KeyListField(required=False)
    project = forms.CharField(required=False, widget=forms.HiddenInput)
    format = forms.ChoiceField(
        choices=[(fmt.name, fmt.label) for fmt in exporting.FORMATS.values()],
        initial="feature",
        widget=forms.RadioSelect,
    )
    excel = forms.BooleanField(
        required=False, label="For Excel", help_text="CSV only: starts the file with a UTF-8 byte-order mark."
    )
    testrail_template = forms.ChoiceField(
        label="TestRail template",
        choices=list(exporting.TESTRAIL_TEMPLATES.items()),
        required=False,
        help_text="The Template column of a TestRail CSV.",
    )

    def __init__(self, data, *, user):
        super().__init__(data)
        self.user = user

    def clean(self) -> dict:
        data = super().clean()
        keys, project = data.get("stories") or [], normalise_key(data.get("project") or "")
        if not keys and not project:
            raise forms.ValidationError("Select stories in the table, or filter the table by a project, first.")
        stories = permissions.visible(UserStory.objects.all(), self.user)
        if project:
            if not permissions.visible_projects(self.user).filter(key=project).exists():
                raise forms.ValidationError(f"No project {project}.")
            stories = stories.filter(project__key=project)
        if keys:
            found = set(stories.filter(key__in=keys).values_list("key", flat=True))
            missing = [key for key in keys if key not in found]
            if missing:
                raise forms.ValidationError(f"No story {', '.join(missing)}.")
            stories = stories.filter(key__in=keys)
        data["selection"] = stories
        data["project"] = project
        data["testrail_template"] = data.get("testrail_template") or "steps"
        return data

    def filename(self) -> str:
        """The download's name: its scope (project, story or number of stories) and the format's file name."""
        keys, project = self.cleaned_data["stories"], self.cleaned_data["project"]
        scope = project if project and not keys else keys[0] if len(keys) == 1 else f"{len(keys)}-stories"
        return f"{scope}-{exporting.FORMATS[self.cleaned_data['format']].filename}"


class TestsImportForm(forms.Form):
    """Bring test cases back: a .feature file, a zip of them, or QAForge's JSON export (stories.importing_tests)."""

    SUFFIXES = (".feature", ".zip", ".json")

    file = forms.FileField(
        help_text="A .feature file, a .zip of them (a Cucumber repository), or QAForge's JSON export."
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.QAFORGE_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(f"The file is larger than {limit // (1024 * 1024)} MB.")
        if not upload.name.lower().endswith(self.SUFFIXES):
            raise forms.ValidationError("Upload a .feature, .zip or .json file.")
        return upload


class MemberForm(forms.Form):
    """Add a member to a project, or change a member's role (the members page)."""

    username = forms.CharField(max_length=150, label="User")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)

    def clean_username(self):
        from django.contrib.auth import get_user_model

        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"There is no active user {username!r}.")
        self.cleaned_data["user"] = user
        return username
