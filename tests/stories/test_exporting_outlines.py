"""A Scenario Outline in every export: the .feature files (gherkin-official and `behave --dry-run`), Xray's Cucumber
test, TestRail's Steps and BDD templates, QAForge's JSON and CSV, and back in through `import_tests`."""

import io
import json
import subprocess
import sys
import zipfile

import pytest

from stories import exporting
from stories.models import Scenario, UserStory
from tests import factories
from tests.factories import OUTLINE_STEPS
from tests.stories.test_exporting import export, parse, read_csv
from tests.stories.test_importing_tests import run


@pytest.fixture
def outline(story):
    """SHOP-12 with a test case holding a plain scenario and an outline."""
    test_case = factories.make_test_case(story, scenarios=1, title="Cart limits")
    return Scenario.objects.create(
        test_case=test_case, position=1, name="Quantities at the limit", steps=OUTLINE_STEPS, tags=["@boundary"]
    )


def chunks(fmt: str, **kwargs) -> str:
    data = exporting.export_chunks(fmt, UserStory.objects.all(), **kwargs)
    return "".join(c.decode() if isinstance(c, bytes) else c for c in data) if fmt != "feature" else b"".join(data)


def test_the_feature_file_holds_a_scenario_outline_that_behave_runs_once_per_row(outline, tmp_path):
    with zipfile.ZipFile(io.BytesIO(chunks("feature"))) as archive:
        archive.extractall(tmp_path / "features")
    path = tmp_path / "features" / outline.test_case.feature_path()
    text = path.read_text(encoding="utf-8")

    assert (
        f"  @{outline.id_tag[1:]} @boundary\n  Scenario Outline: Quantities at the limit\n"
        "    Given a shopper with an empty cart\n    When they add <quantity> items\n    Then the cart is <result>\n"
        "    Examples:\n      | quantity | result   |\n      | 50       | accepted |\n      | 51       | refused  |\n"
    ) in text
    scenario = parse(text)["feature"]["children"][1]["scenario"]
    assert scenario["keyword"] == "Scenario Outline"
    assert [[c["value"] for c in row["cells"]] for row in scenario["examples"][0]["tableBody"]] == [
        ["50", "accepted"],
        ["51", "refused"],
    ]
    (tmp_path / "features" / "steps").mkdir()
    (tmp_path / "features" / "steps" / "all_steps.py").write_text(
        "from behave import step\n\n\n@step('{text}')\ndef any_step(context, text):\n    pass\n", encoding="utf-8"
    )
    behave = subprocess.run(
        [sys.executable, "-m", "behave", "--dry-run", "--no-color", "--format", "plain", str(tmp_path / "features")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert behave.returncode == 0, behave.stdout + behave.stderr
    # The plain scenario and one run per Examples row, with the row's values in its steps.
    assert "0 scenarios passed, 0 failed, 0 skipped, 3 untested" in behave.stdout
    assert "When they add 51 items" in behave.stdout and "undefined" not in behave.stdout


def test_xray_gets_a_cucumber_scenario_outline_with_its_examples(outline):
    header, *rows = read_csv(chunks("xray-csv"))
    records = [dict(zip(header, row, strict=False)) for row in rows]
    plain, test = records

    assert (plain["Cucumber Test Type"], test["Cucumber Test Type"]) == ("Scenario", "Scenario Outline")
    assert test["Gherkin Definition"].endswith(
        "Examples:\n  | quantity | result   |\n  | 50       | accepted |\n  | 51       | refused  |"
    )
    # What Xray writes back out for this test: its keyword, its summary, then the definition.
    scenario = parse(f"Feature: x\n{test['Cucumber Test Type']}: {test['Summary']}\n{test['Gherkin Definition']}")
    assert len(scenario["feature"]["children"][0]["scenario"]["examples"][0]["tableBody"]) == 2


def test_testrail_steps_template_lists_the_runs_and_the_bdd_template_holds_the_outline(outline):
    header, *rows = read_csv(chunks("testrail-csv"))
    test = dict(zip(header, rows[1], strict=True))

    assert test["Preconditions"] == "Given a shopper with an empty cart"
    assert test["Steps"] == (
        "1. When they add <quantity> items\n\n"
        "Run the steps once per row of the Examples, with its values in place of the <placeholders>:\n"
        "Examples:\n  | quantity | result   |\n  | 50       | accepted |\n  | 51       | refused  |"
    )
    assert test["Expected Result"] == "Then the cart is <result>"  # the table is not an expected result
    bdd = parse("Feature: x\n" + test["BDD Scenario"])["feature"]["children"][0]["scenario"]
    assert bdd["keyword"] == "Scenario Outline" and len(bdd["examples"][0]["tableBody"]) == 2


def test_json_and_csv_carry_the_table_in_the_steps(outline):
    scenario = json.loads(chunks("json"))[0]["test_cases"][0]["scenarios"][1]
    assert scenario["steps"][3:] == [
        "Examples:",
        "| quantity | result   |",
        "| 50       | accepted |",
        "| 51       | refused  |",
    ]
    header, *rows = read_csv(chunks("csv"))
    assert dict(zip(header, rows[1], strict=True))["steps"] == OUTLINE_STEPS


def test_an_outline_round_trips_through_import_tests(outline, tmp_path):
    export("SHOP-12", "--output", str(tmp_path / "repo"))
    path = tmp_path / "repo" / outline.test_case.feature_path()
    out, _ = run("import_tests", str(tmp_path / "repo"))
    assert "unchanged 1" in out

    path.write_text(path.read_text(encoding="utf-8") + "      | 0 | refused |\n", encoding="utf-8")
    out, _ = run("import_tests", str(tmp_path / "repo"))

    assert "updated 1 test case (1 scenario changed)" in out
    outline.refresh_from_db()
    assert outline.steps == OUTLINE_STEPS + "\n| 0        | refused  |"
    assert Scenario.objects.count() == 2

    (tmp_path / "tests.json").write_text("".join(chunks("json")), encoding="utf-8")
    out, _ = run("import_tests", str(tmp_path / "tests.json"))
    assert "unchanged 1" in out
