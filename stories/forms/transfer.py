"""Files in and out: importing stories, exporting test cases, and importing test cases back."""

from __future__ import annotations

from django import forms
from django.conf import settings

from stories import exporting, permissions
from stories.forms.fields import KeyListField
from stories.keys import normalise_key
from stories.models import Project, UserStory, project_key_validator

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
