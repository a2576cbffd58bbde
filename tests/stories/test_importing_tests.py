"""The round trip: export → edit in the repository → `import_tests` → QAForge has the edits, and nothing twice."""

import io
import json
import shutil
import zipfile

import pytest
from django.core.management import CommandError, call_command

from stories.models import Scenario, TestCase
from tests import factories


def run(command: str, *args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def snapshot() -> list[tuple]:
    """Every test case and scenario as stored, to compare before and after an import."""
    cases = list(TestCase.objects.order_by("id").values_list("id", "story_id", "title", "test_type", "priority"))
    scenarios = list(
        Scenario.objects.order_by("id").values_list("id", "test_case_id", "position", "name", "steps", "tags")
    )
    return cases + scenarios


@pytest.fixture
def exported(story, tmp_path):
    """SHOP-12 with two test cases exported as a directory of .feature files."""
    first = factories.make_test_case(story, scenarios=2, title="Add to cart", preconditions="Given a product")
    second = factories.make_test_case(story, scenarios=1, title="Cart limits")
    Scenario.objects.filter(test_case=second).update(
        steps="Given a product\nWhen I set the quantity to <n>\nThen it is <result>\n"
        "Examples:\n| n | result |\n| 11 | refused |"
    )
    run("export_tests", "SHOP-12", "--output", str(tmp_path / "repo"))
    return first, second, tmp_path / "repo"


def test_reimporting_an_unchanged_export_writes_nothing(exported):
    first, second, repo = exported
    before = snapshot()

    out, _ = run("import_tests", str(repo))

    assert out.strip() == "Created 0 test cases (0 scenarios), updated 0 test cases (0 scenarios changed), unchanged 2."
    assert snapshot() == before


def test_an_edited_step_changes_that_scenario_and_nothing_else(exported):
    first, second, repo = exported
    target = first.scenarios.order_by("position")[1]
    before = snapshot()
    path = repo / first.feature_path()
    text = path.read_text(encoding="utf-8")
    scenario_block = text[text.index(target.id_tag) :]
    edited = scenario_block.replace("Then the cart shows 1 item", "Then the cart shows 2 items", 1)
    path.write_text(text.replace(scenario_block, edited), encoding="utf-8")

    out, _ = run("import_tests", str(repo))

    assert "updated 1 test case (1 scenario changed), unchanged 1" in out
    target.refresh_from_db()
    assert target.steps.endswith("Then the cart shows 2 items")
    after = snapshot()
    assert len(after) == len(before)  # no new rows
    changed = [row for row in after if row not in before]
    assert changed == [(target.pk, first.pk, 1, target.name, target.steps, ["@smoke"])]


def test_title_tags_priority_and_new_scenarios_come_back_without_duplicates(exported):
    first, second, repo = exported
    path = repo / first.feature_path()
    text = path.read_text(encoding="utf-8")
    text = text.replace("Feature: Add to cart", "Feature: Add items to the cart")
    text = text.replace("@priority-medium", "@priority-high").replace("@functional", "@ui")
    text = text.replace("@smoke\n  Scenario: Scenario 1", "@smoke @cart\n  Scenario: Scenario 1")
    text += "\n  @new\n  Scenario: Remove an item\n    Given a cart with 1 item\n    When I remove it\n"
    text += "    Then the cart is empty\n"
    path.write_text(text, encoding="utf-8")

    run("import_tests", str(repo))
    out, _ = run("import_tests", str(repo))  # twice: the new scenario has no id yet in the file

    first.refresh_from_db()
    assert (first.title, first.priority, first.test_type) == ("Add items to the cart", "high", "UI")
    names = list(first.scenarios.order_by("position").values_list("name", "tags"))
    assert names[0] == ("Scenario 1", ["@smoke", "@cart"])
    assert TestCase.objects.count() == 2
    assert [n for n, _ in names] == ["Scenario 1", "Scenario 2", "Remove an item"]  # added once, not twice
    assert "unchanged 2" in out


def test_a_feature_without_ids_is_created_under_its_story_tag_or_story_option(story, project, tmp_path):
    other = factories.make_story(project=project, key="SHOP-13")
    (tmp_path / "a.feature").write_text(
        "@SHOP-12 @api\nFeature: Checkout\n  Pay for the cart.\n\n  Scenario: Pay\n    Given a cart\n    When I pay\n"
        "    Then I get a receipt\n",
        encoding="utf-8",
    )
    (tmp_path / "b.feature").write_text(
        "Feature: Refunds\n  Background:\n    Given a paid order\n\n  Scenario: Refund\n    When I refund\n"
        "    Then the money is back\n",
        encoding="utf-8",
    )

    out, _ = run("import_tests", str(tmp_path), "--story", "shop-13")

    assert "Created 2 test cases (2 scenarios)" in out
    checkout = TestCase.objects.get(title="Checkout")
    assert (checkout.story, checkout.test_type, checkout.objective) == (story, "API", "Pay for the cart.")
    refunds = TestCase.objects.get(title="Refunds")
    assert (refunds.story, refunds.preconditions) == (other, "Given a paid order")


def test_invalid_gherkin_is_refused_with_file_line_column_and_nothing_is_written(exported):
    first, second, repo = exported
    before = snapshot()
    good = repo / first.feature_path()
    good.write_text(
        good.read_text(encoding="utf-8").replace("Feature: Add to cart", "Feature: Renamed"), encoding="utf-8"
    )
    bad = repo / second.feature_path()
    bad.write_text(bad.read_text(encoding="utf-8").replace("    When I set", "    I set"), encoding="utf-8")

    with pytest.raises(CommandError, match=r"^Nothing imported: 1 problem\.$"):
        call_command("import_tests", str(repo), stdout=io.StringIO(), stderr=(err := io.StringIO()))
    line = bad.read_text(encoding="utf-8").splitlines().index("    I set the quantity to <n>") + 1
    assert err.getvalue().startswith(f"{bad}:{line}:5: expected:")
    assert snapshot() == before


def test_unknown_ids_and_stories_are_refused(story, tmp_path):
    (tmp_path / "x.feature").write_text(
        "@tc-9999\nFeature: Gone\n  Scenario: A\n    Given a\n    Then b\n", encoding="utf-8"
    )
    (tmp_path / "y.feature").write_text(
        "@NOPE-1\nFeature: Where\n  Scenario: A\n    Given a\n    Then b\n", encoding="utf-8"
    )
    (tmp_path / "z.feature").write_text("Feature: No then\n  Scenario: A\n    Given a\n", encoding="utf-8")

    with pytest.raises(CommandError):
        call_command("import_tests", str(tmp_path), stdout=io.StringIO(), stderr=(err := io.StringIO()))
    problems = err.getvalue().splitlines()
    assert problems[0] == (
        f"{tmp_path / 'x.feature'}:2:1: @tc-9999 names no test case in QAForge (deleted?); remove the tag to import "
        "it as a new test case."
    )
    assert problems[1] == (
        f"{tmp_path / 'y.feature'}:2:1: which story? Tag the Feature with @STORY-KEY or use --story KEY "
        "(@NOPE-1 name no story)."
    )
    assert (
        f"{tmp_path / 'z.feature'}:2:3: The scenario needs a 'Then' step that states the expected outcome." in problems
    )
    assert not TestCase.objects.exists()


def test_zip_and_json_round_trips(exported, tmp_path):
    first, second, repo = exported
    before = snapshot()
    run("export_tests", "SHOP-12", "--output", str(tmp_path / "all.zip"))
    run("export_tests", "SHOP-12", "--format", "json", "--output", str(tmp_path / "all.json"))

    assert "unchanged 2" in run("import_tests", str(tmp_path / "all.zip"))[0]
    assert "unchanged 2" in run("import_tests", str(tmp_path / "all.json"))[0]
    assert snapshot() == before

    data = json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))
    data[0]["test_cases"][1]["scenarios"][0]["name"] = "Too many"
    data[0]["test_cases"][1]["priority"] = "lowest"
    (tmp_path / "all.json").write_text(json.dumps(data), encoding="utf-8")
    out, _ = run("import_tests", str(tmp_path / "all.json"))
    assert "updated 1 test case (1 scenario changed), unchanged 1" in out
    second.refresh_from_db()
    assert (second.priority, second.scenarios.get().name) == ("lowest", "Too many")
    assert len(snapshot()) == len(before)


def test_dry_run_writes_nothing(exported):
    first, second, repo = exported
    before = snapshot()
    shutil.copy(repo / first.feature_path(), repo / "copy.txt")
    path = repo / first.feature_path()
    path.write_text(path.read_text(encoding="utf-8").replace("Feature: Add to cart", "Feature: X"), encoding="utf-8")
    out, _ = run("import_tests", str(repo), "--dry-run")
    assert out.startswith("Dry run, nothing written: created 0 test cases")
    assert snapshot() == before


def test_a_zip_without_features_and_a_missing_path_are_clear_errors(db, tmp_path):
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as archive:
        archive.writestr("readme.txt", "hi")
    with pytest.raises(CommandError):
        call_command("import_tests", str(tmp_path / "empty.zip"), stdout=io.StringIO(), stderr=(err := io.StringIO()))
    assert "no .feature or .json file in this zip" in err.getvalue()
    with pytest.raises(CommandError):
        call_command("import_tests", str(tmp_path / "nope"), stdout=io.StringIO(), stderr=(err := io.StringIO()))
    assert "no such file or directory" in err.getvalue()


def test_json_brings_back_the_criteria_a_scenario_covers(exported, tmp_path):
    first, second, repo = exported
    run("export_tests", "SHOP-12", "--format", "json", "--output", str(tmp_path / "all.json"))
    data = json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))
    data[0]["test_cases"][1]["scenarios"][0]["criteria"] = [2, 1]
    (tmp_path / "all.json").write_text(json.dumps(data), encoding="utf-8")

    run("import_tests", str(tmp_path / "all.json"))

    assert second.scenarios.get().criteria == [1, 2]
    assert "unchanged 2" in run("import_tests", str(tmp_path / "all.json"))[0]


# --- In the browser ------------------------------------------------------------------------------------------------


def upload(client, name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    return client.post(reverse("stories:import_tests"), {"file": SimpleUploadedFile(name, data)})


def test_the_import_page_takes_an_edited_zip_and_reports_what_changed(client_logged_in, exported, tmp_path):
    first, second, repo = exported
    run("export_tests", "SHOP-12", "--output", str(tmp_path / "repo.zip"))
    with zipfile.ZipFile(tmp_path / "repo.zip") as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    name = first.feature_path()
    files[name] = files[name].replace(b"Feature: Add to cart", b"Feature: Add to the cart")
    with zipfile.ZipFile(tmp_path / "edited.zip", "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)

    response = upload(client_logged_in, "edited.zip", (tmp_path / "edited.zip").read_bytes())

    assert response.status_code == 302
    page = client_logged_in.get(response["Location"]).content.decode()
    assert "Created 0 test cases (0 scenarios), updated 1 test case (0 scenarios changed), unchanged 1." in page
    first.refresh_from_db()
    assert first.title == "Add to the cart"


def test_the_import_page_shows_invalid_gherkin_with_its_line_and_writes_nothing(client_logged_in, exported):
    first, second, repo = exported
    before = snapshot()
    text = (repo / first.feature_path()).read_text(encoding="utf-8").replace("    When they", "    they", 1)

    response = upload(client_logged_in, "cart.feature", text.encode())

    html = response.content.decode()
    line = text.splitlines().index("    they add an item to the cart") + 1
    assert response.status_code == 400
    assert f"<code>cart.feature:{line}:5: expected:" in html
    assert snapshot() == before


def test_the_import_page_refuses_stories_the_user_may_not_change(client, exported):
    from stories.permissions import grant

    first, second, repo = exported
    reader = factories.make_user("reader")
    grant(reader, first.story.project, "viewer")
    grant(reader, factories.make_project(key="OWN"), "editor")  # an editor elsewhere may open the page
    client.force_login(reader)

    response = upload(client, "cart.feature", (repo / first.feature_path()).read_bytes())

    assert response.status_code == 400
    assert "you may not change SHOP-12." in response.content.decode()


def test_the_import_page_takes_feature_zip_or_json_only(client_logged_in, project):
    response = upload(client_logged_in, "notes.txt", b"hello")
    assert "Upload a .feature, .zip or .json file." in response.content.decode()
