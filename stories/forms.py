"""Forms for stories and test cases. JSON list fields are edited as plain text: criteria a blank line apart, labels
and tags separated by commas."""

from __future__ import annotations

import re

from django import forms
from django.db import transaction
from django.forms.models import BaseInlineFormSet, inlineformset_factory

from stories import gherkin, permissions
from stories.keys import normalise_key
from stories.models import Scenario, TestCase, UserStory, normalise_criterion

# Paths under /stories/ that a story key would shadow.
RESERVED_STORY_KEYS = {"new", "test-cases"}


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

    def clean_key(self) -> str:
        key = normalise_key(self.cleaned_data["key"])
        if key.lower() in RESERVED_STORY_KEYS:
            raise forms.ValidationError(f"'{key}' is reserved; choose another key.")
        return key

    def key_warning(self) -> str:
        """A saved story whose key prefix is not its project's key: allowed (a story moved in Jira keeps its key),
        but worth a word in case it is a typo."""
        story = self.instance
        if story.project_id is None or not story.key_prefix or story.key_prefix == story.project.key:
            return ""
        return f"{story.key} does not start with its project's key {story.project.key}- (kept as typed)."


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

    class Meta:
        model = Scenario
        fields = ["name", "steps", "tags"]
        widgets = {
            "steps": forms.Textarea(
                attrs={"rows": 5, "class": "gherkin-input", "placeholder": "Given …\nWhen …\nThen …"}
            )
        }
        help_texts = {"steps": "One step a line, starting with Given, When, Then, And or But."}


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
