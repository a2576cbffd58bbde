"""Editing one story: its form, and the keys a story may not take."""

from __future__ import annotations

from django import forms

from stories import permissions
from stories.forms.fields import CommaSeparatedField, CriteriaField
from stories.keys import normalise_key, prefix_warning
from stories.models import UserStory

# Paths under /stories/ that a story key would shadow.
RESERVED_STORY_KEYS = {"new", "test-cases", "import", "export"}


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
