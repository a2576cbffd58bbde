"""The review dialog as Django forms: a formset of suggested test cases, each holding a formset of its scenarios.

Scenarios are validated by the story app's own ScenarioForm (the Scenario model's Gherkin rules), test cases by a
TestCase ModelForm, so the review checks exactly what the test case pages check, and every error of every field shows
at once. The same module answers what the review shows around the forms: coverage of the story's acceptance
criteria by the kept scenarios, and the header's counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.forms import formset_factory

from generation import duplicates
from generation.models import ACTIVE_STATUSES, GenerationJob
from stories import criteria as ac
from stories.forms import ScenarioForm
from stories.models import TestCase

MAX_SCENARIOS = 50  # a generated test case holds at most 10; headroom for hand edits, and a bound on forged counts
MAX_CASES = 100


class CitationsField(forms.CharField):
    """AC numbers a scenario covers, carried through the form as "1 3" (a hidden input)."""

    widget = forms.HiddenInput

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return " ".join(str(n) for n in value)
        return value

    def to_python(self, value) -> list[int]:
        if isinstance(value, list):
            return [int(n) for n in value]
        return sorted({int(n) for n in (super().to_python(value) or "").split() if n.isdigit()})


class ReviewScenarioForm(ScenarioForm):
    criteria = CitationsField(required=False)

    @property
    def cites(self) -> list[int]:
        """The AC numbers this scenario cites, as the form currently holds them."""
        try:
            return CitationsField().to_python(self["criteria"].value() or "")
        except (TypeError, ValueError):
            return []

    class Meta(ScenarioForm.Meta):
        widgets = {"steps": forms.Textarea(attrs={"rows": 4, "class": "gherkin-input"})}
        help_texts = {}


class ReviewCaseForm(forms.ModelForm):
    suggestion = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = TestCase
        fields = ["title", "test_type", "priority"]

    def __init__(self, *args, scenarios=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.scenarios = scenarios

    def is_deleted(self) -> bool:
        return bool(self.cleaned_data.get("DELETE")) if hasattr(self, "cleaned_data") else False


ScenarioFormSet = formset_factory(
    ReviewScenarioForm, extra=0, can_delete=True, max_num=MAX_SCENARIOS, validate_max=True, absolute_max=MAX_SCENARIOS
)
ScenarioFormSet.default_error_messages = {
    **ScenarioFormSet.default_error_messages,
    "too_few_forms": "Keep at least one scenario, or delete the whole test case.",
}


class BaseCaseFormSet(forms.BaseFormSet):
    """Test cases; each form carries its scenarios' formset in `form.scenarios` (prefix `case-N-sc`)."""

    def __init__(self, *args, job: GenerationJob, suggestions=None, start: int = 0, find_repeats=True, **kwargs):
        self.job = job
        suggestions = job.suggestions.all() if suggestions is None else suggestions
        self.suggestions = {s.pk: s for s in suggestions}
        self.start = start  # the first form's index: suggestions that join an open review continue its numbering
        # What repeats the story's saved test cases: flagged, and skipped unless the lead keeps it.
        self.repeats = duplicates.for_suggestions(job.story, self.suggestions.values()) if find_repeats else {}
        super().__init__(*args, **kwargs)

    def add_prefix(self, index):
        return super().add_prefix(index + self.start if isinstance(index, int) else index)

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        form.number = self.start + i + 1  # "Test case 3"
        prefix = f"{form.prefix}-sc"
        if self.is_bound:
            form.scenarios = ScenarioFormSet(self.data, prefix=prefix)
            number = form["suggestion"].value()
            form.suggestion_obj = self.suggestions.get(int(number)) if str(number).isdigit() else None
        else:
            form.suggestion_obj = self.suggestions[self.initial[i]["suggestion"]]
        repeats = self.repeats.get(form.suggestion_obj.pk, {}) if form.suggestion_obj else {}
        form.repeats = repeats.get("case")  # the saved test case this whole suggestion repeats
        scenario_repeats = repeats.get("scenarios", {})
        if not self.is_bound:
            initial = [
                {**scenario, "DELETE": i in scenario_repeats and form.repeats is None}
                for i, scenario in enumerate(form.suggestion_obj.scenarios)
            ]
            form.scenarios = ScenarioFormSet(initial=initial, prefix=prefix)
        for index, scenario_form in enumerate(form.scenarios.forms):
            match = scenario_repeats.get(index)
            scenario_form.repeats = match.saved if match else None
        return form

    def clean(self) -> None:
        seen = set()
        for form in self.forms:
            number = form.cleaned_data.get("suggestion") if hasattr(form, "cleaned_data") else None
            if number not in self.suggestions or number in seen:
                raise forms.ValidationError("The review form is out of date: close it and open the review again.")
            seen.add(number)

    def is_valid(self) -> bool:
        valid = super().is_valid()
        for form in self.forms:
            if self._should_delete_form(form):
                continue
            scenarios = form.scenarios
            valid = scenarios.is_valid() and valid
            kept = [f for f in scenarios.forms if not scenarios._should_delete_form(f)]
            if not kept:
                form.add_error(None, ScenarioFormSet.default_error_messages["too_few_forms"])
                valid = False
        return valid

    def kept(self) -> list[tuple[ReviewCaseForm, list[ReviewScenarioForm]]]:
        """(case form, its kept scenario forms) of every test case not deleted, in order."""
        result = []
        for form in self.forms:
            if self._should_delete_form(form):
                continue
            scenarios = [f for f in form.scenarios.forms if not form.scenarios._should_delete_form(f)]
            result.append((form, scenarios))
        return result

    def edits(self) -> list[dict]:
        """The reviewed suggestions as `jobs.save_suggestions` takes them (valid formset only)."""
        kept = {form.cleaned_data["suggestion"]: scenarios for form, scenarios in self.kept()}
        edits = []
        for form in self.forms:
            number = form.cleaned_data["suggestion"]
            if number not in kept:
                edits.append({"id": number, "delete": True})
                continue
            edits.append(
                {
                    "id": number,
                    "title": form.cleaned_data["title"],
                    "test_type": form.cleaned_data["test_type"],
                    "priority": form.cleaned_data["priority"],
                    "scenarios": [
                        {
                            "name": f.cleaned_data["name"],
                            "steps": f.cleaned_data["steps"],
                            "tags": f.cleaned_data["tags"],
                            "criteria": f.cleaned_data.get("criteria") or [],
                        }
                        for f in kept[number]
                    ],
                }
            )
        return edits


CaseFormSet = formset_factory(
    ReviewCaseForm, formset=BaseCaseFormSet, extra=0, can_delete=True, max_num=MAX_CASES, absolute_max=MAX_CASES
)


def review_formset(job: GenerationJob, data=None, *, suggestions=None, start: int = 0) -> BaseCaseFormSet:
    """The review's formset: bound to a POST, or filled from the job's suggestions (`suggestions`, numbered from
    `start`: those that joined a review already open)."""
    if data is not None:
        return CaseFormSet(data, job=job, prefix="case")
    formset = CaseFormSet(job=job, suggestions=suggestions, start=start, prefix="case")
    formset.initial = [
        {
            "suggestion": s.pk,
            "title": s.title,
            "test_type": s.test_type,
            "priority": s.priority,
            "DELETE": bool(formset.repeats.get(s.pk, {}).get("case")),  # repeats a saved test case: skipped
        }
        for s in formset.suggestions.values()
    ]
    return formset


class JoinedForm(forms.Form):
    """What an open review dialog says when it asks for the suggestions that joined it: the ids it shows, and how
    many case forms it holds (the new ones are numbered after them)."""

    start = forms.IntegerField(min_value=0, max_value=MAX_CASES)
    shown = CitationsField(required=False)  # the same "1 2 3" list of numbers


def joined_formset(job: GenerationJob, data) -> BaseCaseFormSet | None:
    """The case forms of the suggestions an open review does not show yet (None for a malformed question)."""
    form = JoinedForm(data)
    if not form.is_valid():
        return None
    shown = set(form.cleaned_data["shown"])
    joined = [s for s in job.suggestions.all() if s.pk not in shown]
    start = form.cleaned_data["start"]
    return review_formset(job, suggestions=joined[: max(0, MAX_CASES - start)], start=start)


def edits_formset(job: GenerationJob, edits: list[dict], suggestions) -> BaseCaseFormSet:
    """The review's formset bound to `edits` as the API and commands send them (see `jobs.save_suggestions`), over
    `suggestions`: what an edit leaves out stays as suggested. Saving from any entry point validates through this
    one formset, so the page, the API and the commands refuse the same things with the same messages."""
    by_id = {int(e["id"]): e for e in edits}
    data = {"case-TOTAL_FORMS": len(suggestions), "case-INITIAL_FORMS": 0}
    for i, suggestion in enumerate(suggestions):
        edit, prefix = by_id.get(suggestion.pk, {}), f"case-{i}"
        data[f"{prefix}-suggestion"] = suggestion.pk
        for name in ("title", "test_type", "priority"):
            data[f"{prefix}-{name}"] = _text(edit.get(name, getattr(suggestion, name)))
        if edit.get("delete"):
            data[f"{prefix}-DELETE"] = "on"
        scenarios = edit["scenarios"] if "scenarios" in edit else suggestion.scenarios
        data.update({f"{prefix}-sc-TOTAL_FORMS": len(scenarios or []), f"{prefix}-sc-INITIAL_FORMS": 0})
        for j, scenario in enumerate(scenarios or []):
            scenario = scenario if isinstance(scenario, dict) else {}
            for name in ("name", "steps", "tags", "criteria"):
                data[f"{prefix}-sc-{j}-{name}"] = _text(scenario.get(name, ""))
            if scenario.get("delete"):
                data[f"{prefix}-sc-{j}-DELETE"] = "on"
    return CaseFormSet(data, job=job, suggestions=suggestions, find_repeats=False, prefix="case")


def _text(value) -> str:
    """An edit's value as the review form posts it: lists (tags, cited criteria) space-separated."""
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)


@dataclass
class Criterion:
    number: int
    text: str
    covered_by: list[str]  # "Test case 2 · Scenario name"
    queued: bool = False  # a job generating for it ("Generate for this criterion") has not ended yet

    @property
    def label(self) -> str:
        return ac.label(self.number)


def criteria(job: GenerationJob) -> list[Criterion]:
    """Each acceptance criterion of the story, marked queued while a job generating for it has not ended."""
    extending = GenerationJob.objects.filter(extends=job, status__in=ACTIVE_STATUSES).values_list("criteria", flat=True)
    queued = {n for numbers in extending for n in numbers or []}
    return [Criterion(n, text, [], queued=n in queued) for n, text in job.story.numbered_criteria]


def coverage(job: GenerationJob, formset: BaseCaseFormSet) -> list[Criterion]:
    """Each acceptance criterion of the story with the kept scenarios that cite it (in the formset's state)."""
    result = criteria(job)
    by_number = {c.number: c for c in result}
    for position, form in enumerate(formset.forms, start=1):
        if dropped(formset, form):
            continue
        for scenario in form.scenarios.forms:
            if dropped(form.scenarios, scenario):
                continue
            name = scenario["name"].value() or ""
            for number in scenario.cites:
                if number in by_number:
                    by_number[number].covered_by.append(f"Test case {position} · {name}")
    return result


def dropped(formset, form) -> bool:
    """Is this form deleted (posted so, or skipped by default because it repeats what is saved)?"""
    if formset.is_bound:
        return formset._should_delete_form(form)
    return bool(form.initial.get("DELETE"))


def kept_count(formset) -> int:
    return sum(1 for form in formset.forms if not dropped(formset, form))


def uncovered(criteria: list[Criterion]) -> list[Criterion]:
    return [c for c in criteria if not c.covered_by]


@dataclass
class Problem:
    target: str  # the id of the field (or test case) to focus
    where: str  # "Test case 2 · Scenario 1 · Steps"
    message: str


def _field_problems(form, where: str, fallback: str) -> list[Problem]:
    problems = []
    for name, messages in form.errors.items():
        if name == "__all__":
            target, label = fallback, where
        else:
            target, label = form[name].auto_id, f"{where} · {form[name].label}"
        problems += [Problem(target, label, str(message)) for message in messages]
    return problems


def _problems(formset: BaseCaseFormSet):
    """(form, scenario index or -1, Problem) of every problem of a bound, invalid formset, in page order."""
    for i, form in enumerate(formset.forms):
        if formset._should_delete_form(form):
            continue
        where = f"Test case {i + 1}"
        for problem in _field_problems(form, where, f"case-{i}"):
            yield form, -1, problem
        for message in form.scenarios.non_form_errors():
            yield form, -1, Problem(f"case-{i}", where, str(message))
        for j, scenario in enumerate(form.scenarios.forms):
            if form.scenarios._should_delete_form(scenario):
                continue
            for problem in _field_problems(scenario, f"{where} · Scenario {j + 1}", f"case-{i}-sc-{j}"):
                yield form, j, problem


def error_summary(formset: BaseCaseFormSet) -> list[Problem]:
    """Every problem of a bound, invalid formset in page order, each pointing at the field to fix."""
    problems = [Problem("review-form", "Review", str(m)) for m in formset.non_form_errors()]
    return problems + [problem for _form, _index, problem in _problems(formset)]


def problems_by_suggestion(formset: BaseCaseFormSet) -> dict[int, dict[int, list[str]]]:
    """The same problems for programs: {suggestion id: {scenario index, or -1 for the test case: ["Steps: …"]}}.
    Each message names its field as the review's summary does ("Title: This field is required.")."""
    result: dict[int, dict[int, list[str]]] = {}
    for form, index, problem in _problems(formset):
        field = problem.where.rpartition(" · ")[2]
        label = f"{field}: " if not field.startswith(("Test case", "Scenario")) else ""
        number = form.cleaned_data.get("suggestion") or form["suggestion"].value()
        result.setdefault(int(number), {}).setdefault(index, []).append(f"{label}{problem.message}")
    return result
