"""Editing a test case: its form, the formset of its scenarios, and saving both as one unit."""

from __future__ import annotations

from django import forms
from django.db import transaction
from django.forms.models import BaseInlineFormSet, inlineformset_factory

from stories import gherkin
from stories.forms.fields import TagsField
from stories.models import Scenario, TestCase


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
