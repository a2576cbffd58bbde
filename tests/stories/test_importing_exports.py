"""Real tracker exports import as they are: Jira Cloud CSV (both key spellings), Azure DevOps CSV, GitHub issues JSON
(gh and REST), with every guessed mapping reported; and files that would lose or merge rows are refused whole."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from stories.importing import ImportFailed, import_stories
from stories.models import Project, UserStory
from tests.stories.test_importing import write

EXPORTS = Path(__file__).parent / "exports"


def report(path, *args) -> list[str]:
    out = io.StringIO()
    call_command("import_stories", str(path), *args, stdout=out, stderr=io.StringIO(), no_color=True)
    return out.getvalue().strip().splitlines()


def stories() -> dict[str, UserStory]:
    return {story.key: story for story in UserStory.objects.all()}


MARKUP_LEFTOVERS = ("<li", "<div", "h3.", "{{", "&nbsp;", "*", "{noformat}", "||")


def assert_clean_text(story: UserStory) -> None:
    for text in [story.title, story.description, *story.acceptance_criteria]:
        for leftover in MARKUP_LEFTOVERS:
            assert leftover not in text, (story.key, leftover, text)


# --- Jira -----------------------------------------------------------------------------------------------------------


def test_jira_cloud_export_with_bom_repeated_columns_wiki_markup_and_team_statuses(db):
    lines = report(EXPORTS / "jira-cloud.csv")

    assert lines[0] == "Jira CSV export: 6 rows"
    assert lines[1] == "types: Story 3, Bug 1, Epic 1, Sub-task 1"
    assert lines[-1] == "created 6, updated 0, unchanged 0; created project SHOP"
    warnings = lines[2:-1]
    assert 'warning: status "Ready for QA" read as In progress (its Status Category "In Progress") — 1 row, ' in (
        "\n".join(warnings)
    )
    assert any(w.startswith('warning: status "QA" read as In review') for w in warnings)  # no category: the table
    assert any(w.startswith('warning: status "Waiting for customer" is not one QAForge knows') for w in warnings)
    assert any(w.startswith('warning: priority "P2" read as Medium') for w in warnings)
    assert any(
        w.startswith("warning: Custom field (Acceptance Criteria): Jira wiki markup converted") for w in warnings
    )

    found = stories()
    assert list(found) == ["SHOP-2", "SHOP-3", "SHOP-10", "SHOP-11", "SHOP-12", "SHOP-13"]  # natural order
    assert Project.objects.get(key="SHOP").name == "Web shop"
    cart = found["SHOP-2"]
    assert (cart.title, cart.issue_type, cart.status, cart.tracker_status, cart.priority) == (
        "Review the cart before paying",
        "Story",
        "in_progress",
        "Ready for QA",
        "medium",
    )
    assert cart.labels == ["checkout", "mobile"]  # three Labels columns, one empty
    # The second of the two "Acceptance Criteria" columns holds them; the numbered list is three criteria.
    assert cart.acceptance_criteria == [
        "Given a shopper with two items in the cart\nWhen they open the cart\n"
        "Then both items are listed with their prices",
        "The total includes VAT and shipping",
        "Removing the last item shows Your cart is empty",
    ]
    assert cart.description == (
        "Story\n\nAs a shopper I want to review my cart before paying so that I do not buy the wrong thing.\n\n"
        "Notes\n\n- Uses the CartSummary component\n- See the design (https://design.example.com/cart)"
    )
    bug = found["SHOP-10"]
    assert (bug.issue_type, bug.status, bug.tracker_status, bug.priority) == ("Bug", "done", "Won't Do", "highest")
    assert bug.acceptance_criteria == [
        'An expired card shows "Your card has expired"',
        "The shopper stays on the payment page",
    ]
    assert (found["SHOP-11"].issue_type, found["SHOP-11"].status, found["SHOP-11"].priority) == (
        "Epic",
        "todo",
        "highest",
    )
    assert (found["SHOP-12"].status, found["SHOP-12"].priority) == ("in_review", "lowest")
    assert found["SHOP-12"].acceptance_criteria == ["The VAT line shows the rate, e.g. VAT 20%"]
    saved = found["SHOP-13"]
    assert (saved.status, saved.tracker_status) == ("todo", "Waiting for customer")  # unknown: default, raw kept
    assert saved.labels == ["cart", "wishlist", "checkout"]
    assert saved.acceptance_criteria == [
        "A saved cart survives a logout",
        "Given a shopper with a saved cart\nWhen they sign in on another device\nThen the saved cart is there",
        "Including items that are now out of stock, marked as such",
    ]
    assert "Device | Supported\nDesktop | yes" in saved.description
    assert found["SHOP-3"].acceptance_criteria == []
    for story in found.values():
        assert_clean_text(story)

    assert report(EXPORTS / "jira-cloud.csv")[-1] == "created 0, updated 0, unchanged 6"


def test_jira_work_item_key_spelling_and_lower_case_keys(db):
    lines = report(EXPORTS / "jira-work-items.csv")
    assert lines[0] == "Jira CSV export: 2 rows"
    assert lines[-1] == "created 2, updated 0, unchanged 0; created project SHIP"
    found = stories()
    assert list(found) == ["SHIP-7", "SHIP-8"]
    assert found["SHIP-7"].acceptance_criteria == ["The page shows the carrier", "The page shows the expected day"]
    assert (found["SHIP-8"].issue_type, found["SHIP-8"].priority) == ("Bug", "high")


def test_types_option_filters_and_says_what_it_skipped(db):
    lines = report(EXPORTS / "jira-cloud.csv", "--types", "story, bug")
    assert lines[1] == "types: Story 3, Bug 1, Epic 1, Sub-task 1"
    assert lines[-1] == "created 4, updated 0, unchanged 0, skipped 2 (Epic 1, Sub-task 1); created project SHOP"
    assert sorted(UserStory.objects.values_list("issue_type", flat=True)) == ["Bug", "Story", "Story", "Story"]


# --- Azure DevOps ---------------------------------------------------------------------------------------------------


def test_azure_devops_export_with_html_and_numeric_ids(db):
    lines = report(EXPORTS / "azure-devops.csv", "--project", "shop")

    assert lines[0] == "Azure DevOps CSV export: 4 rows"
    assert lines[1] == "types: User Story 2, Bug 1, Feature 1"
    assert lines[-1] == "created 4, updated 0, unchanged 0; created project SHOP"
    assert not any('status "Active"' in line for line in lines)  # Azure DevOps' own states need no guess
    assert any(line.startswith('warning: status "Removed" read as Done') for line in lines)
    found = stories()
    assert list(found) == ["SHOP-18540", "SHOP-18541", "SHOP-18542", "SHOP-18543"]
    card = found["SHOP-18540"]
    assert (card.title, card.issue_type, card.status, card.priority) == (
        "Pay with a saved card",
        "User Story",
        "in_progress",
        "high",
    )
    assert card.labels == ["checkout", "payments", "saved cards"]
    assert card.description == (
        "As a returning shopper I want to pay with a saved card so that checkout is faster.\n\n"
        "Note: cards are stored by the PSP."
    )
    assert card.acceptance_criteria == [
        "Given a shopper with a saved card\nWhen they choose it at checkout\nThen the payment uses that card",
        "The card number shows only its last 4 digits",
    ]
    assert found["SHOP-18541"].description == "Repro:\n\n- Open checkout in Safari 17\n- See the empty list"
    assert found["SHOP-18542"].acceptance_criteria == [
        "Given a shopper with two saved cards\nWhen they remove one\nThen only the other is listed",
        "A removed card cannot be used again",
    ]
    for story in found.values():
        assert_clean_text(story)


def test_numeric_ids_need_a_project(db):
    with pytest.raises(CommandError) as error:
        report(EXPORTS / "azure-devops.csv")
    assert "numbers its items; choose the project they belong to (--project KEY: item 18540 becomes KEY-18540)" in (
        str(error.value)
    )
    assert not UserStory.objects.exists()


# --- GitHub ---------------------------------------------------------------------------------------------------------


def test_github_issues_from_gh_with_criteria_under_a_heading(db):
    lines = report(EXPORTS / "github-gh-cli.json", "--project", "SEARCH")

    assert lines[0] == "GitHub issues JSON: 3 rows"
    assert lines[-1] == "created 3, updated 0, unchanged 0; created project SEARCH"
    found = stories()
    assert list(found) == ["SEARCH-9", "SEARCH-12", "SEARCH-15"]
    size = found["SEARCH-12"]
    assert (size.title, size.status, size.labels, size.external_url) == (
        "Filter search results by size",
        "todo",
        ["enhancement", "search"],
        "https://github.com/acme/shop/issues/12",
    )
    assert size.acceptance_criteria == [
        "Given a shopper on the results page\nWhen they choose size M\nThen only products in size M are listed",
        "The chosen size stays selected after paging",
        "Clear filters removes the size filter",
    ]
    assert size.description == (
        "As a shopper I want to filter search results by size so that I only see what fits.\n\n"
        "Notes\n\nDesign in Figma > Search."
    )
    quoted = found["SEARCH-9"]
    assert (quoted.status, quoted.labels) == ("done", ["bug"])
    assert quoted.acceptance_criteria == [
        "Quoted phrases are matched as phrases",
        "A search with no results suggests similar spellings",
    ]
    assert found["SEARCH-15"].acceptance_criteria == []
    for story in found.values():
        assert_clean_text(story)


def test_github_rest_api_json_with_label_objects_and_pull_requests(db):
    lines = report(EXPORTS / "github-rest.json", "--project", "SEARCH", "--types", "Issue")
    assert lines[-1] == "created 1, updated 0, unchanged 0, skipped 1 (Pull request 1); created project SEARCH"
    story = UserStory.objects.get()
    assert (story.key, story.labels, story.external_url) == (
        "SEARCH-21",
        ["good first issue"],
        "https://github.com/acme/shop/issues/21",
    )
    assert story.acceptance_criteria == ["Price ascending is offered", "Price descending is offered"]


def test_format_can_be_forced_and_is_named_when_a_column_is_missing(db, tmp_path):
    path = write(tmp_path, "s.csv", "Summary,Issue Type\nOne,Story\n")
    with pytest.raises(ImportFailed) as error:
        import_stories(path, fmt="jira")
    assert 'no key column for a Jira CSV export (expected "issue key" or "work item key")' in error.value.message


# --- Never merge or lose rows silently ------------------------------------------------------------------------------


def test_a_stray_quote_that_would_merge_rows_refuses_the_file_and_names_its_line(db, tmp_path):
    content = (
        "Issue key,Summary,Issue Type,Description\n"
        "A-1,One,Story,Fine\n"
        "A-2,Two,Story,Fine\n"
        'A-3,Three,Story,"The ""Pay"" button is grey\n'  # line 4: the quote closes only on line 9
        "A-4,Four,Story,Fine\n"
        "A-5,Five,Story,Fine\n"
        "A-6,Six,Story,Fine\n"
        "A-7,Seven,Story,Fine\n"
        'A-8,Eight,Story,Fine"\n'
        "A-9,Nine,Story,Fine\n"
    )
    path = write(tmp_path, "s.csv", content)
    with pytest.raises(ImportFailed) as error:
        import_stories(path)
    assert error.value.errors == [
        f"{path}, line 4: a quote opened here is closed only on line 9 — rows in between would be merged"
    ]
    assert not UserStory.objects.exists()


def test_a_quote_inside_a_title_that_spans_lines_is_refused_too(db, tmp_path):
    path = write(tmp_path, "s.csv", 'key,title\nA-1,"One\nA-2,Two"\nA-3,Three\n')
    with pytest.raises(ImportFailed) as error:
        import_stories(path)
    assert "line 2: a quote opened here is closed only on line 3 — rows in between would be merged" in (
        error.value.message
    )


def test_a_quote_never_closed_is_refused(db, tmp_path):
    path = write(tmp_path, "s.csv", 'key,title,description\nA-1,One,ok\nA-2,Two,"oops\nA-3,Three,ok\n')
    with pytest.raises(ImportFailed) as error:
        import_stories(path)
    assert "line 3: a quote opened here is never closed — every row after it would be merged" in error.value.message
    assert not UserStory.objects.exists()


def test_multi_line_descriptions_are_not_mistaken_for_merged_rows(db, tmp_path):
    path = write(tmp_path, "s.csv", 'key,title,description\nA-1,One,"first line\nsecond, with a comma"\nA-2,Two,ok\n')
    assert import_stories(path).created == 2


def test_a_json_object_with_the_same_field_twice_is_refused_naming_the_line(db, tmp_path):
    text = '[\n  {"key": "A-1", "title": "One"},\n  {"key": "A-2",\n   "title": "Two",\n   "title": "Deux"}\n]\n'
    path = write(tmp_path, "s.json", text)
    with pytest.raises(ImportFailed) as error:
        import_stories(path)
    assert error.value.errors == [f'{path}, line 5: the field "title" appears twice in one object; keep one']
    assert not UserStory.objects.exists()


def test_csv_and_json_share_one_field_size_limit_and_message(db, tmp_path):
    huge = "x" * 100_001
    csv_path = write(tmp_path, "s.csv", f"key,title,description\nA-1,One,{huge}\n")
    json_path = write(tmp_path, "s.json", json.dumps([{"key": "A-1", "title": "One", "description": huge}]))
    errors = []
    for path in (csv_path, json_path):
        with pytest.raises(ImportFailed) as error:
            import_stories(path)
        errors.extend(error.value.errors)
    problem = "is 100,001 characters long; one field holds at most 100,000"
    assert errors == [
        f'{csv_path}, line 2, column "description": {problem}',
        f'{json_path}, item 1 (line 1), field "description": {problem}',
    ]
    assert not UserStory.objects.exists()


def test_reimport_changes_nothing_and_a_changed_story_is_updated(db, tmp_path):
    report(EXPORTS / "azure-devops.csv", "--project", "SHOP")
    assert report(EXPORTS / "azure-devops.csv", "--project", "SHOP")[-1] == "created 0, updated 0, unchanged 4"
    text = (
        (EXPORTS / "azure-devops.csv").read_text(encoding="utf-8-sig").replace("Remove a saved card", "Remove a card")
    )
    changed = write(tmp_path, "changed.csv", text)
    assert report(changed, "--project", "SHOP")[-1] == "created 0, updated 1, unchanged 3"
    assert UserStory.objects.get(key="SHOP-18542").title == "Remove a card"
    assert UserStory.objects.count() == 4


def test_imported_criteria_are_numbered_and_keep_their_numbers_on_update(db, tmp_path):
    first = write(tmp_path, "a.json", json.dumps([{"key": "A-1", "title": "One", "acceptance_criteria": ["x", "y"]}]))
    import_stories(first)
    story = UserStory.objects.get()
    assert (story.criteria_numbers, story.criteria_next_number, story.criteria_count) == ([1, 2], 3, 2)
    second = write(tmp_path, "b.json", json.dumps([{"key": "A-1", "title": "One", "acceptance_criteria": ["y", "z"]}]))
    import_stories(second)
    story.refresh_from_db()
    assert story.numbered_criteria == [(2, "y"), (3, "z")]  # "y" keeps AC-2; "z" is new
    assert story.criteria_count == 2
