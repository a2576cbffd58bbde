"""Forms for stories and test cases, one module per question they answer: `story` (editing a story), `filters` (which
stories the table shows), `testcases` (editing a test case and its scenarios), `transfer` (importing stories,
exporting, importing tests), `members` (a project's members); `fields` holds the fields several of them use. JSON
list fields are edited as plain text: criteria a blank line apart, labels and tags separated by commas."""

from stories.forms.filters import StoryFilterForm
from stories.forms.members import MemberForm
from stories.forms.story import StoryForm
from stories.forms.testcases import ScenarioForm, TestCaseForm, save_test_case, scenario_formset
from stories.forms.transfer import ExportForm, ImportForm, TestsImportForm

__all__ = [
    "ExportForm",
    "ImportForm",
    "MemberForm",
    "ScenarioForm",
    "StoryFilterForm",
    "StoryForm",
    "TestCaseForm",
    "TestsImportForm",
    "save_test_case",
    "scenario_formset",
]
