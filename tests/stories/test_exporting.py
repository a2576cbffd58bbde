"""`manage.py export_tests` and `stories.exporting`: Cucumber files, the Xray and TestRail CSVs, JSON and CSV."""

import csv
import io
import json
import subprocess
import sys
import zipfile

import pytest
from django.core.management import CommandError, ManagementUtility, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from gherkin.parser import Parser
from gherkin.token_scanner import TokenScanner

from generation.models import GenerationJob, JobStatus
from stories import exporting
from stories.demo_data import load_demo
from stories.models import Scenario, UserStory
from tests import factories

# The column lists the importers document (the sources: docstrings of stories/exporting/xray.py and testrail.py).
XRAY_REQUIRED = ["Test ID", "Summary", "Test Type"]
TESTRAIL_COLUMNS = [
    "Title",
    "Section",
    "Template",
    "Type",
    "Priority",
    "References",
    "Preconditions",
    "Steps",
    "Expected Result",
    "BDD Scenario",
]
TESTRAIL_DEFAULT_TYPES = {
    "Acceptance",
    "Accessibility",
    "Automated",
    "Compatibility",
    "Destructive",
    "Functional",
    "Other",
    "Performance",
    "Regression",
    "Security",
    "Smoke & Sanity",
    "Usability",
}


def export(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_tests", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def parse(text: str) -> dict:
    """The document gherkin-official makes of a .feature text (raises on invalid Gherkin)."""
    return Parser().parse(TokenScanner(text))


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


@pytest.fixture
def demo(db):
    load_demo()


@pytest.fixture
def suite(story):
    """SHOP-12 with two test cases (two scenarios, one), a second story in another project with one."""
    first = factories.make_test_case(story, scenarios=2, title="Add to cart", test_type="UI", priority="highest")
    second = factories.make_test_case(story, scenarios=1, title="Cart limits", priority="lowest")
    other = factories.make_story(project=factories.make_project(key="BANK"), key="BANK-1", title="Log in")
    third = factories.make_test_case(other, scenarios=1, title="Log in with a code")
    return first, second, third


# --- Cucumber -----------------------------------------------------------------------------------------------------


def test_demo_export_parses_with_gherkin_official_and_runs_under_behave_dry_run(demo, tmp_path):
    features = tmp_path / "features"
    _, err = export("--all", "--output", str(features))

    files = sorted(p.relative_to(features).as_posix() for p in features.rglob("*.feature"))
    assert len(files) == 3 and "Wrote 3 .feature files" in err
    for path in features.rglob("*.feature"):
        assert parse(path.read_text(encoding="utf-8"))["feature"]["children"]
    # A catch-all step definition: behave then checks that every file parses and every step is matched.
    (features / "steps").mkdir()
    (features / "steps" / "all_steps.py").write_text(
        "from behave import step\n\n\n@step('{text}')\ndef any_step(context, text):\n    pass\n", encoding="utf-8"
    )
    run = subprocess.run(
        [sys.executable, "-m", "behave", "--dry-run", "--no-color", "--format", "plain", str(features)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # A dry run marks every matched step "untested": all files parsed, no step is undefined, nothing failed.
    assert "0 features passed, 0 failed, 0 skipped, 3 untested" in run.stdout
    assert "undefined" not in run.stdout


def test_feature_files_carry_story_test_case_and_scenario_ids(suite, tmp_path):
    first, second, third = suite
    export("--all", "--output", str(tmp_path))

    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.feature"))
    assert files == [
        f"BANK-1/tc-{third.pk}-log-in-with-a-code.feature",
        f"SHOP-12/tc-{first.pk}-add-to-cart.feature",
        f"SHOP-12/tc-{second.pk}-cart-limits.feature",
    ]
    feature = parse((tmp_path / files[1]).read_text(encoding="utf-8"))["feature"]
    assert feature["name"] == "Add to cart"
    assert [t["name"] for t in feature["tags"]] == ["@SHOP-12", f"@tc-{first.pk}", "@ui", "@priority-highest"]
    scenarios = [c["scenario"] for c in feature["children"]]
    assert [s["name"] for s in scenarios] == ["Scenario 1", "Scenario 2"]
    ids = [s.pk for s in first.scenarios.order_by("position")]
    assert [[t["name"] for t in s["tags"]] for s in scenarios] == [
        [f"@sc-{ids[0]}", "@smoke"],
        [f"@sc-{ids[1]}", "@smoke"],
    ]
    assert [s["text"] for s in scenarios[0]["steps"]] == [
        "a signed-in shopper",
        "they add an item to the cart",
        "the cart shows 1 item",
    ]


def test_step_preconditions_become_a_background(story, tmp_path):
    factories.make_test_case(story, title="Checkout", preconditions="Given a signed-in shopper\nAnd a full cart")
    export("SHOP-12", "--output", str(tmp_path))

    feature = parse(next(tmp_path.rglob("*.feature")).read_text(encoding="utf-8"))["feature"]
    background = feature["children"][0]["background"]
    assert [f"{s['keyword'].strip()} {s['text']}" for s in background["steps"]] == [
        "Given a signed-in shopper",
        "And a full cart",
    ]
    assert "Preconditions" not in feature["description"]


def test_outlines_parse_and_same_titles_get_distinct_files(story, tmp_path):
    factories.make_test_case(story, title="Checkout")
    outline = factories.make_test_case(story, scenarios=0, title="Checkout")
    Scenario.objects.create(
        test_case=outline,
        name="Quantity limits",
        steps="Given a product\nWhen I set the quantity to <n>\nThen it is <result>\n"
        "Examples:\n| n | result |\n| 1 | accepted |\n| 11 | refused |",
    )
    export("SHOP-12", "--output", str(tmp_path))

    assert len(list((tmp_path / "SHOP-12").iterdir())) == 2
    scenario = parse((tmp_path / outline.feature_path()).read_text(encoding="utf-8"))["feature"]["children"][0]
    assert scenario["scenario"]["keyword"] == "Scenario Outline"
    assert len(scenario["scenario"]["examples"][0]["tableBody"]) == 2


def test_one_feature_goes_to_stdout_more_ask_for_output(suite):
    first, second, third = suite
    out, _ = export("BANK-1")
    assert parse(out)["feature"]["name"] == "Log in with a code"

    with pytest.raises(CommandError, match=r"3 test cases, one \.feature file each: use --output DIR or --output"):
        export("--all")


def test_feature_zip_holds_every_file_and_is_deterministic(suite, tmp_path):
    export("--all", "--output", str(tmp_path / "a.zip"))
    export("--all", "--output", str(tmp_path / "b.zip"))

    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert [n.split("/")[0] for n in names] == ["BANK-1", "SHOP-12", "SHOP-12"]
        for name in names:
            parse(archive.read(name).decode("utf-8"))


# --- Xray ---------------------------------------------------------------------------------------------------------


def test_xray_csv_one_cucumber_test_per_scenario(suite):
    first, second, third = suite
    Scenario.objects.filter(test_case=first).update(tags=["@smoke", "@cart"])
    out, _ = export("--all", "--format", "xray-csv")

    header, *rows = read_csv(out)
    assert header == [
        "Test ID",
        "Summary",
        "Description",
        "Test Type",
        "Cucumber Test Type",
        "Gherkin Definition",
        "Priority",
        "Labels",
        "Labels",
        "Labels",
        "Requirement",
        "Repository Path",
    ]
    assert set(XRAY_REQUIRED) <= set(header)
    records = [dict(zip(header[:7], row[:7], strict=True)) | {"labels": row[7:10], "link": row[10:]} for row in rows]
    assert len({r["Test ID"] for r in records}) == len(records) == 4  # unique Test ID per test
    assert {r["Test Type"] for r in records} == {"Cucumber"}
    assert {r["Cucumber Test Type"] for r in records} == {"Scenario"}
    bank, add_1, add_2, limits = records
    scenario = first.scenarios.order_by("position").first()
    assert add_1["Test ID"] == f"sc-{scenario.pk}"
    assert add_1["Summary"] == "Scenario 1"
    assert add_1["Gherkin Definition"] == (
        "Given a signed-in shopper\nWhen they add an item to the cart\nThen the cart shows 1 item"
    )
    assert add_1["Description"].startswith("Test case: Add to cart\n")
    assert [add_1["Priority"], limits["Priority"], bank["Priority"]] == ["Highest", "Lowest", "Medium"]
    assert add_1["labels"] == ["smoke", "cart", "ui"]
    assert limits["labels"] == ["smoke", "functional", ""]
    assert add_1["link"] == ["SHOP-12", "SHOP/SHOP-12"]
    assert bank["link"] == ["BANK-1", "BANK/BANK-1"]


# --- TestRail -----------------------------------------------------------------------------------------------------


def test_testrail_csv_for_the_steps_and_bdd_templates(suite):
    first, second, third = suite
    Scenario.objects.filter(test_case=second).update(
        steps="Given a cart with 50 items\nAnd a product\nWhen they add the product\nThen it is refused\n"
        "And the cart still holds 50 items"
    )
    second.preconditions = "The shop is open"
    second.save()
    out, _ = export("SHOP-12", "--format", "testrail-csv")

    header, *rows = read_csv(out)
    assert header == TESTRAIL_COLUMNS
    records = [dict(zip(header, row, strict=True)) for row in rows]
    assert [r["Title"] for r in records] == ["Scenario 1", "Scenario 2", "Scenario 1"]
    assert {r["Section"] for r in records} == {"SHOP-12 Add items to the cart"}
    assert {r["Template"] for r in records} == {"Test Case (Steps)"}
    assert {r["References"] for r in records} == {"SHOP-12"}
    assert {r["Type"] for r in records} <= TESTRAIL_DEFAULT_TYPES
    assert [r["Type"] for r in records] == ["Usability", "Usability", "Functional"]
    assert [records[0]["Priority"], records[2]["Priority"]] == ["Critical", "Low"]  # highest → Critical, lowest → Low
    limits = records[2]
    assert limits["Preconditions"] == "The shop is open\nGiven a cart with 50 items\nAnd a product"
    assert limits["Steps"] == "1. When they add the product"
    assert limits["Expected Result"] == "Then it is refused\nAnd the cart still holds 50 items"
    assert limits["BDD Scenario"].startswith("Scenario: Scenario 1\n  Given a cart with 50 items\n")
    parse("Feature: x\n" + limits["BDD Scenario"])

    bdd, _ = export("SHOP-12", "--format", "testrail-csv", "--testrail-template", "bdd")
    assert {row[2] for row in read_csv(bdd)[1:]} == {"Behaviour Driven Development"}


def test_testrail_priorities_map_five_levels_onto_four():
    assert exporting.TESTRAIL_PRIORITY == {
        "highest": "Critical",
        "high": "High",
        "medium": "Medium",
        "low": "Low",
        "lowest": "Low",
    }


# --- Spreadsheet safety, determinism, order -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xray-csv", "testrail-csv", "csv"])
def test_formula_cells_are_neutralised(story, fmt):
    test_case = factories.make_test_case(story, scenarios=0, title='=HYPERLINK("http://x")', objective="+1")
    Scenario.objects.create(test_case=test_case, name="-2 items", steps="Given a\nThen b", tags=["@x"])
    Scenario.objects.create(test_case=test_case, name="@SUM(A1)", steps="Given a\nThen b")
    out, _ = export("SHOP-12", "--format", fmt)

    cells = [cell for row in read_csv(out)[1:] for cell in row]
    assert "'-2 items" in cells and "'@SUM(A1)" in cells
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in cells)


def test_safe_cell_neutralises_every_formula_start():
    assert [exporting.safe_cell(v) for v in ["=1", "+1", "-1", "@a", "\tx", "\rx", "a=1", "", None, 7]] == [
        "'=1",
        "'+1",
        "'-1",
        "'@a",
        "'\tx",
        "'\rx",
        "a=1",
        "",
        "",
        "7",
    ]


@pytest.mark.parametrize("fmt", ["xray-csv", "testrail-csv", "csv"])
def test_excel_switch_writes_a_bom(suite, tmp_path, fmt):
    story = UserStory.objects.get(key="SHOP-12")
    story.title = "Añadir — carrito"
    story.save()
    export("SHOP-12", "--format", fmt, "--output", str(tmp_path / "plain.csv"))
    export("SHOP-12", "--format", fmt, "--excel", "--output", str(tmp_path / "excel.csv"))

    plain, excel = (tmp_path / "plain.csv").read_bytes(), (tmp_path / "excel.csv").read_bytes()
    assert excel == b"\xef\xbb\xbf" + plain
    assert not plain.startswith(b"\xef\xbb\xbf")
    if fmt != "xray-csv":  # the Xray file has no story title
        assert "Añadir — carrito" in plain.decode("utf-8")


@pytest.mark.parametrize("fmt", exporting.EXPORT_FORMATS)
def test_exports_are_deterministic(demo, fmt):
    def run() -> bytes:
        chunks = exporting.export_chunks(fmt, UserStory.objects.all())
        return b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)

    assert run() == run()


def test_stories_come_in_natural_key_order(project):
    for key in ["SHOP-10", "SHOP-2", "SHOP-1", "BANK-3"]:
        factories.make_test_case(factories.make_story(project=project, key=key))
    out, _ = export("--all", "--format", "json")

    assert [story["key"] for story in json.loads(out)] == ["BANK-3", "SHOP-1", "SHOP-2", "SHOP-10"]


# --- JSON and CSV -------------------------------------------------------------------------------------------------


def test_json_lists_stories_with_ids_and_matches_json_dumps(suite):
    out, _ = export("--all", "--format", "json")

    data = json.loads(out)
    assert out == json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    assert [story["key"] for story in data] == ["BANK-1", "SHOP-12"]
    shop = data[1]
    assert shop["project"] == "SHOP" and shop["title"] == "Add items to the cart"
    assert [tc["title"] for tc in shop["test_cases"]] == ["Add to cart", "Cart limits"]
    first = shop["test_cases"][0]
    assert first["id"] == suite[0].pk and first["test_type"] == "UI"
    assert first["scenarios"][0] == {
        "id": suite[0].scenarios.order_by("position").first().pk,
        "name": "Scenario 1",
        "tags": ["@smoke"],
        "steps": ["Given a signed-in shopper", "When they add an item to the cart", "Then the cart shows 1 item"],
        "criteria": [],
    }


def test_csv_has_one_row_per_scenario(suite, tmp_path):
    first, second, third = suite
    factories.make_test_case(third.story, scenarios=0, title="No scenarios yet")
    _, err = export("--all", "--format", "csv", "--output", str(tmp_path))

    with open(tmp_path / "test-cases.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert "Wrote 4 test cases to" in err
    assert [(r["story_key"], r["test_case_title"], r["scenario_name"]) for r in rows] == [
        ("BANK-1", "Log in with a code", "Scenario 1"),
        ("BANK-1", "No scenarios yet", ""),
        ("SHOP-12", "Add to cart", "Scenario 1"),
        ("SHOP-12", "Add to cart", "Scenario 2"),
        ("SHOP-12", "Cart limits", "Scenario 1"),
    ]
    assert rows[2]["tags"] == "smoke" and rows[2]["project"] == "SHOP" and rows[2]["test_case_id"] == str(first.pk)


def test_project_filter(suite, tmp_path):
    export("--project", "BANK", "--format", "json", "--output", str(tmp_path / "bank.json"))
    assert [story["key"] for story in json.loads((tmp_path / "bank.json").read_text(encoding="utf-8"))] == ["BANK-1"]


# --- Errors -------------------------------------------------------------------------------------------------------


def test_unknown_story_project_or_no_selection_is_a_command_error(suite):
    with pytest.raises(CommandError, match=r"No story with key SHOP-99, NOPE-1\."):
        export("SHOP-12", "SHOP-99", "NOPE-1")
    with pytest.raises(CommandError, match=r'No project with key "NOPE" \(projects: BANK, SHOP\)\.'):
        export("--project", "NOPE")
    with pytest.raises(CommandError, match=r"No story with key SHOP-12 in project BANK\."):
        export("SHOP-12", "--project", "BANK")
    with pytest.raises(CommandError, match=r"Name at least one story key, or use --project KEY or --all\."):
        export()


def test_feature_export_refuses_a_file_as_output(suite, tmp_path):
    target = tmp_path / "one.feature"
    target.write_text("", encoding="utf-8")
    with pytest.raises(CommandError, match="needs a directory or a .zip"):
        export("--all", "--output", str(target))


def test_nothing_to_export_exits_non_zero_and_names_the_jobs_waiting_for_review(story, capsys):
    with pytest.raises(CommandError, match=r"^Nothing to export: no saved test cases for SHOP-12\.$"):
        export("SHOP-12")

    job = GenerationJob.objects.create(story=story, status=JobStatus.READY)
    with pytest.raises(CommandError) as error:
        export("SHOP-12")
    assert f"1 job is still waiting for review: SHOP-12 (job {str(job.pk)[:8]})" in str(error.value)
    assert "review_jobs --save" in str(error.value)

    with pytest.raises(SystemExit) as exit:
        ManagementUtility(["manage.py", "export_tests", "--all"]).execute()
    assert exit.value.code == 1
    assert "Nothing to export" in capsys.readouterr().err


def test_a_named_story_without_test_cases_is_reported(suite, project):
    factories.make_story(project=project, key="SHOP-99")
    out, err = export("SHOP-99", "BANK-1")
    assert "SHOP-99 has no saved test cases." in err
    assert parse(out)["feature"]["name"] == "Log in with a code"


# --- Queries ------------------------------------------------------------------------------------------------------


def test_queries_do_not_grow_with_the_number_of_test_cases(db):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            for fmt in exporting.EXPORT_FORMATS:
                for _ in exporting.export_chunks(fmt, UserStory.objects.all()):
                    pass
        return len(queries)

    story = factories.make_story()
    factories.make_test_case(story, scenarios=1)
    few = count_queries()
    for _ in range(4):
        story = factories.make_story()
        for _ in range(3):
            factories.make_test_case(story, scenarios=3)
    assert count_queries() == few


def test_streaming_fetches_stories_in_batches(db, settings, monkeypatch):
    monkeypatch.setattr(exporting.selection, "BATCH_STORIES", 2)
    stories = [factories.make_story(key=f"S-{n}") for n in range(5)]
    for story in stories:
        factories.make_test_case(story)
    assert [s.key for s in exporting.iter_stories(UserStory.objects.all())] == [f"S-{n}" for n in range(5)]
