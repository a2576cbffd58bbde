"""The story importer: `manage.py import_stories` and `stories.importing.import_stories`."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from stories import history, importing
from stories.importing import ImportFailed, import_stories, split_criteria
from stories.models import Project, UserStory
from tests import factories

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


def run(path, *args) -> tuple[str, str]:
    """The command's summary line (its last) and what it wrote to stderr."""
    out, err = report(path, *args)
    return out.splitlines()[-1], err


def report(path, *args) -> tuple[str, str]:
    """Everything the command printed: the format, types, warnings and the summary."""
    out, err = io.StringIO(), io.StringIO()
    call_command("import_stories", str(path), *args, stdout=out, stderr=err, no_color=True)
    return out.getvalue().strip(), err.getvalue()


def fail(path, *args) -> str:
    with pytest.raises(CommandError) as info:
        run(path, *args)
    return str(info.value)


def write(tmp_path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


# --- The sample files ---------------------------------------------------------------------------------------------


def test_sample_csv_creates_stories_and_their_project(db):
    out, _ = run(SAMPLES / "stories.csv")

    assert out == "created 4, updated 0, unchanged 0; created project SHOP"
    search = UserStory.objects.get(key="SHOP-101")
    assert search.project.key == "SHOP" and search.project.name == "SHOP"
    assert search.priority == "high" and search.status == "todo"
    assert search.labels == ["search", "catalogue"]
    assert search.external_url == "https://jira.example.com/browse/SHOP-101"
    assert search.acceptance_criteria == [
        "Results appear within 2 seconds for a catalogue of 100,000 products",
        "A search with no results suggests similar spellings",
        'Given a shopper on the home page\nWhen they search for "red shoes"\n'
        "Then only products matching both words are listed",
    ]
    wish_list = UserStory.objects.get(key="SHOP-102")
    assert wish_list.status == "in_progress"
    assert len(wish_list.acceptance_criteria) == 3  # two plain lines, then one Given/When/Then over three lines
    assert wish_list.acceptance_criteria[2].startswith("Given a signed-in shopper")
    assert UserStory.objects.get(key="SHOP-103").labels == ["checkout", "payments"]
    orphan = UserStory.objects.get(key="NOPROJ-1")
    assert orphan.project is None and orphan.acceptance_criteria == [] and orphan.priority == "low"


def test_jira_export_csv(db):
    out, _ = run(SAMPLES / "jira-export.csv")

    assert out == "created 3, updated 0, unchanged 0; created project BANK"
    assert Project.objects.get(key="BANK").name == "Mobile banking"  # from the "Project name" column
    login = UserStory.objects.get(key="BANK-101")
    assert login.title == "Log in with a one-time code"
    assert login.priority == "highest" and login.status == "todo"
    assert login.labels == ["login", "security"]  # the repeated Labels columns, merged; the empty one dropped
    assert login.acceptance_criteria == [
        "The code has 6 digits and expires after 5 minutes",
        "Given a customer who requested a code\nWhen they enter a wrong code 3 times\n"
        "Then the login is blocked for 15 minutes\nAnd they receive an SMS telling them so",
        "A new code can be requested at most once every 30 seconds",
    ]
    transfer = UserStory.objects.get(key="BANK-103")
    assert transfer.priority == "medium"  # Jira's "Major"
    assert transfer.status == "done"
    assert transfer.labels == ["transfers", "payments", "limits"]
    assert transfer.acceptance_criteria[0] == "The amount must be between 0.01 and 10,000.00 EUR"


def test_sample_json_with_project_option(db):
    factories.make_project(key="SHOP", name="Web shop")

    out, _ = run(SAMPLES / "stories.json", "--project", "SHOP")

    assert out == "created 2, updated 0, unchanged 0"
    discount = UserStory.objects.get(key="SHOP-120")
    assert discount.acceptance_criteria[2] == (
        "Given a cart worth 40 EUR and the code SAVE10\nWhen the shopper applies the code\nThen the total is 36 EUR"
    )
    assert discount.labels == ["checkout", "promotions"]
    slot = UserStory.objects.get(key="SHOP-121")
    assert slot.project.key == "SHOP"  # no project in the file: --project applies
    assert slot.acceptance_criteria == [
        "Slots are 2 hours long",
        "Slots can be booked up to 14 days ahead",
        "A full slot is shown but cannot be selected",
    ]
    assert slot.labels == ["delivery"]


def test_json_plain_list_and_domain_function_summary(db, tmp_path):
    path = write(tmp_path, "list.json", json.dumps([{"key": "A-1", "title": "One", "acceptance_criteria": ["x"]}]))

    summary = import_stories(path)

    assert (summary.created, summary.updated, summary.unchanged) == (1, 0, 0)
    assert UserStory.objects.get(key="A-1").acceptance_criteria == ["x"]


# --- Upsert -------------------------------------------------------------------------------------------------------


def test_reimport_counts_unchanged_then_updated(db, tmp_path):
    run(SAMPLES / "stories.csv")
    with CaptureQueriesContext(connection) as queries:
        assert run(SAMPLES / "stories.csv")[0] == "created 0, updated 0, unchanged 4"
    assert not [q for q in queries if q["sql"].startswith(("INSERT", "UPDATE"))]

    before = UserStory.objects.get(key="SHOP-101")
    text = (SAMPLES / "stories.csv").read_text(encoding="utf-8").replace("Search the catalogue", "Search the shop")
    out, _ = run(write(tmp_path, "changed.csv", text))

    assert out == "created 0, updated 1, unchanged 3"
    after = UserStory.objects.get(key="SHOP-101")
    assert after.title == "Search the shop by keyword"
    assert after.updated_at > before.updated_at


def test_imported_stories_are_stored_as_a_saved_story_is_with_who_imported_them_in_the_history(db, tmp_path):
    lead = factories.make_user("lead")
    path = write(tmp_path, "s.csv", 'key,title,acceptance_criteria\nshop-10,Pay,"- One\n- Two"\nSHOP-2,Ship,\n')

    assert run(path, "--user", "lead")[0] == "created 2, updated 0, unchanged 0"

    # The keys upper-cased and sorted naturally, the criteria numbered, the timestamps set: as save() leaves them.
    assert list(UserStory.objects.values_list("key", flat=True)) == ["SHOP-2", "SHOP-10"]
    pay = UserStory.objects.get(key="SHOP-10")
    assert pay.numbered_criteria == [(1, "One"), (2, "Two")]
    assert (pay.criteria_numbers, pay.criteria_next_number, pay.criteria_count) == ([1, 2], 3, 2)
    assert pay.created_at is not None and pay.updated_at == pay.created_at
    created = pay.history.get()
    assert (created.history_type, created.history_user) == ("+", lead)
    assert created.history_change_reason == "import_stories s.csv"
    assert (created.title, created.acceptance_criteria, created.project_id) == ("Pay", ["One", "Two"], None)

    changed = write(tmp_path, "t.csv", 'key,title,acceptance_criteria\nSHOP-10,Pay by card,"- Two\n- Three"\n')
    assert run(changed)[0] == "created 0, updated 1, unchanged 0"

    pay.refresh_from_db()
    assert pay.numbered_criteria == [(2, "Two"), (3, "Three")]  # "Two" keeps its number
    latest = pay.history.first()
    assert (latest.history_type, latest.history_user) == ("~", None)
    assert latest.history_change_reason == "import_stories t.csv"
    assert (latest.title, latest.criteria_numbers, latest.created_at) == ("Pay by card", [2, 3], pay.created_at)
    assert [set(c.fields) for c in history.story_changes(pay) if c.what == "Story changed"] == [
        {"title", "acceptance criteria"}
    ]
    assert UserStory.objects.get(key="SHOP-2").history.count() == 1  # unchanged: no history row


def test_columns_absent_from_the_file_are_left_alone(db, tmp_path):
    project = factories.make_project(key="SHOP")
    factories.make_story(
        project=project, key="SHOP-1", title="Old", priority="highest", labels=["keep"], acceptance_criteria=["a"]
    )

    out, _ = run(write(tmp_path, "titles.csv", "key,title\nSHOP-1,New title\n"))

    assert out == "created 0, updated 1, unchanged 0"
    story = UserStory.objects.get(key="SHOP-1")
    assert story.title == "New title"
    assert (story.priority, story.labels, story.acceptance_criteria, story.project) == (
        "highest",
        ["keep"],
        ["a"],
        project,
    )


def test_project_option_assigns_only_stories_without_one_and_can_create_it(db, tmp_path):
    factories.make_project(key="SHOP")
    path = write(tmp_path, "mixed.csv", "key,title,project\nA-1,Has one,SHOP\nA-2,Has none,\n")

    out, _ = run(path, "--project", "NEW")

    assert out == "created 2, updated 0, unchanged 0; created project NEW"
    assert UserStory.objects.get(key="A-1").project.key == "SHOP"
    assert UserStory.objects.get(key="A-2").project.key == "NEW"


def test_dry_run_counts_but_writes_nothing(db):
    out, _ = run(SAMPLES / "jira-export.csv", "--dry-run")

    assert out == "created 3, updated 0, unchanged 0; would create project BANK (dry run, nothing written)"
    assert not UserStory.objects.exists()
    assert not Project.objects.exists()


def test_dry_run_reports_updates_against_the_database(db, tmp_path):
    run(SAMPLES / "stories.csv")
    text = (SAMPLES / "stories.csv").read_text(encoding="utf-8").replace(",High,To Do,", ",Low,Done,")

    out, _ = run(write(tmp_path, "changed.csv", text), "--dry-run")

    assert out == "created 0, updated 1, unchanged 3 (dry run, nothing written)"
    assert UserStory.objects.get(key="SHOP-101").priority == "high"


# --- All or nothing, and the error messages -----------------------------------------------------------------------


def test_other_priorities_and_statuses_are_mapped_with_warnings_not_refused(db, tmp_path):
    path = write(
        tmp_path,
        "stories.csv",
        "key,title,Priority,status\nA-1,One,High,Done\nA-2,Two,Urgent,Someday\nA-3,Three,P3,Blocked\nA-4,Four,Whenever,\n"
        "A-5,Five,Urgent,Someday\n",
    )

    out, _ = report(path)

    assert out.splitlines() == [
        "QAForge CSV: 5 rows",
        'warning: status "Someday" is not one QAForge knows: kept as the tracker\'s status, story status left as it '
        "was — 2 rows, first on line 3",
        'warning: priority "Urgent" read as Highest — 2 rows, first on line 3',
        'warning: status "Blocked" read as In progress — 1 row, first on line 4',
        'warning: priority "P3" read as Low — 1 row, first on line 4',
        'warning: priority "Whenever" is not one QAForge knows: left as it was (Medium for a new story) — 1 row, '
        "first on line 5",
        "created 5, updated 0, unchanged 0",
    ]
    stories = {s.key: s for s in UserStory.objects.all()}
    assert (stories["A-2"].priority, stories["A-2"].status, stories["A-2"].tracker_status) == (
        "highest",
        "todo",
        "Someday",
    )
    assert (stories["A-3"].priority, stories["A-3"].status, stories["A-3"].tracker_status) == (
        "low",
        "in_progress",
        "Blocked",
    )
    assert (stories["A-1"].status, stories["A-1"].tracker_status) == ("done", "")
    assert stories["A-4"].priority == "medium"


def test_bad_row_does_not_touch_existing_stories(db, tmp_path):
    factories.make_story(key="A-1", title="Before")
    path = write(tmp_path, "stories.csv", "key,title,status\nA-1,After,Done\nA 2,Two,Someday\n")

    message = fail(path)

    assert 'line 3, column "key": Use letters, digits' in message
    assert "nothing imported (1 problem)" in message
    assert UserStory.objects.get(key="A-1").title == "Before"
    assert not UserStory.objects.filter(title="Two").exists()


def test_many_errors_are_reported_at_once_with_a_cap(db, tmp_path):
    rows = "".join(f"A-{i},Story {i},{'x' * 301}\n" for i in range(60))
    path = write(tmp_path, "stories.csv", "key,title,url\n" + rows)

    with pytest.raises(ImportFailed) as info:
        import_stories(path)

    assert info.value.total == 60
    assert len(info.value.errors) == importing.MAX_ERRORS_SHOWN == 50
    assert info.value.errors[0].startswith(f'{path}, line 2, column "url"')
    assert info.value.errors[49].startswith(f"{path}, line 51,")
    assert info.value.message.endswith("… and 10 more")


def test_model_validation_errors_name_the_column(db, tmp_path):
    long_title = "x" * 301
    path = write(
        tmp_path,
        "s.csv",
        f"Issue key,Summary,url\nBAD KEY,Fine,\nA-2,{long_title},\nA-3,Fine,not a url\nA-4,,\n,No key,\n",
    )

    message = fail(path)

    assert f'{path}, line 2, column "Issue key": Use letters, digits' in message
    assert f'{path}, line 3, column "Summary": Ensure this value has at most 300 characters (it has 301).' in message
    assert f'{path}, line 4, column "url": Enter a valid URL.' in message
    assert f'{path}, line 5, column "Summary": is empty (every story needs a title)' in message
    assert f'{path}, line 6, column "Issue key": is empty' in message
    assert "(5 problems)" in message


def test_invalid_project_keys(db, tmp_path):
    path = write(tmp_path, "s.csv", "key,title,project\nA-1,One,sh op\n")
    assert f'{path}, line 2, column "project": "SH OP" is not a valid project key' in fail(path)

    long_name = write(tmp_path, "n.csv", f"key,title,project,project name\nA-1,One,NEW,{'n' * 201}\n")
    assert 'column "project": project "NEW" cannot be created: Ensure this value has at most 200' in fail(long_name)

    good = write(tmp_path, "good.csv", "key,title\nA-1,One\n")
    assert '--project "MY PROJECT" is not a valid project key' in fail(good, "--project", "my project")
    assert not Project.objects.exists()


def test_duplicate_keys_in_the_file_name_both_lines(db, tmp_path):
    path = write(tmp_path, "s.csv", "key,title\nA-1,One\nA-2,Two\n\nA-1,Again\n")

    message = fail(path)

    assert f'{path}, line 5, column "key": "A-1" is also on line 2 (a key may appear once per file)' in message
    assert not UserStory.objects.exists()


def test_a_key_repeated_chunks_apart_is_caught_without_keeping_every_key_in_memory(db, tmp_path, monkeypatch):
    monkeypatch.setattr(importing, "CHUNK_ROWS", 100)  # the keys seen are looked up a chunk at a time, on disk
    rows = [f"A-{i},Story {i}\n" for i in range(1, 351)]
    rows[300] = "A-1,Again\n"  # line 302, three chunks after line 2
    rows[302] = rows[303] = "B-1,Twice in one chunk\n"  # lines 304 and 305, in one chunk
    path = write(tmp_path, "s.csv", "key,title\n" + "".join(rows))

    message = fail(path)

    assert f'{path}, line 302, column "key": "A-1" is also on line 2 (a key may appear once per file)' in message
    assert f'{path}, line 305, column "key": "B-1" is also on line 304' in message
    assert message.startswith("nothing imported (2 problems)") and not UserStory.objects.exists()


def test_missing_required_columns_are_named(db, tmp_path):
    path = write(tmp_path, "s.csv", "name,details\nA,B\n")

    message = fail(path)

    assert f'{path}, line 1: no "key" column (Jira\'s "Issue key" works too); the header row has "name", "details"' in (
        message
    )
    assert f'{path}, line 1: no "title" column (Jira\'s "Summary" works too)' in message


def test_a_column_given_twice_is_an_error_but_labels_may_repeat(db, tmp_path):
    path = write(tmp_path, "s.csv", "key,Summary,title\nA-1,One,Two\n")
    assert 'columns "Summary" and "title" both give the title; keep one' in fail(path)


def test_empty_files(db, tmp_path):
    assert f"{tmp_path / 'empty.csv'} is empty" in fail(write(tmp_path, "empty.csv", b""))
    assert "is empty" in fail(write(tmp_path, "blank.csv", "\r\n\n  \n"))
    assert "is empty" in fail(write(tmp_path, "empty.json", b"\xef\xbb\xbf"))
    out, _ = run(write(tmp_path, "header.csv", "key,title\n"))
    assert out == "created 0, updated 0, unchanged 0"


def test_utf8_bom_and_windows_line_endings(db, tmp_path):
    content = (
        "\ufeffKey,Title,Acceptance Criteria\r\n"
        'A-1,Café,"- Given a shopper\r\n  When they pay\r\n  Then they get a receipt\r\n- Total is at most 9,999 €"\r\n'
        "\r\n"
        "A-2,Two,\r\n"
        "A-2,Dup,\r\n"
    )
    path = write(tmp_path, "s.csv", content.encode("utf-8"))

    message = fail(path)  # the duplicate proves the physical line numbers survive the multi-line cell and blank line
    assert f'{path}, line 8, column "Key": "A-2" is also on line 7' in message

    path.write_bytes(content.rsplit("A-2,Dup", 1)[0].encode("utf-8"))
    out, _ = run(path)
    assert out == "created 2, updated 0, unchanged 0"
    story = UserStory.objects.get(key="A-1")
    assert story.title == "Café"
    assert story.acceptance_criteria == [
        "Given a shopper\nWhen they pay\nThen they get a receipt",
        "Total is at most 9,999 €",
    ]


def test_non_utf8_input_is_refused_with_the_byte_offset(db, tmp_path):
    content = b"key,title\nA-1,Fine\nA-2,Caf" + b"\xe9 au lait\n"
    path = write(tmp_path, "latin1.csv", content)

    message = fail(path)

    offset = content.index(b"\xe9")
    assert f"{path}, line 3: the file is not UTF-8 text (byte 0xE9 at byte offset {offset} cannot be read)" in message
    assert not UserStory.objects.exists()


def test_non_utf8_byte_after_a_bom_and_far_into_a_large_file(db, tmp_path):
    body = "".join(f"A-{i},Story number {i}\n" for i in range(5000)).encode()
    content = b"\xef\xbb\xbfkey,title\n" + body + b"A-x,\xff\n"
    path = write(tmp_path, "big.csv", content)

    with pytest.raises(ImportFailed) as info:
        import_stories(path)

    offset = content.index(b"\xff")
    assert f"line 5002: the file is not UTF-8 text (byte 0xFF at byte offset {offset} " in info.value.errors[-1]


def test_malformed_csv_quoting_names_the_line(db, tmp_path):
    path = write(tmp_path, "s.csv", 'key,title\nA-1,"One" extra\n')
    assert f"{path}, line 2: the CSV is malformed" in fail(path)


def test_a_row_with_more_cells_than_the_header(db, tmp_path):
    path = write(tmp_path, "s.csv", "key,title\nA-1,Milk, eggs and bread\n")
    assert f"{path}, line 2: the row has 3 cells but the header has 2 columns" in fail(path)


def test_semicolon_separated_csv_from_excel(db, tmp_path):
    out, _ = run(write(tmp_path, "s.csv", "key;title;labels\nA-1;One, two;a,b\n"))
    assert out == "created 1, updated 0, unchanged 0"
    story = UserStory.objects.get(key="A-1")
    assert (story.title, story.labels) == ("One, two", ["a", "b"])


def test_malformed_json_gives_line_and_column(db, tmp_path):
    path = write(tmp_path, "s.json", '[\n  {"key": "A-1", "title": "One"}\n  {"key": "A-2"}\n]\n')
    assert f"{path}, line 3, column 3: malformed JSON (Expecting ',' delimiter)" in fail(path)


def test_json_item_problems_name_item_line_and_field(db, tmp_path):
    items = [
        {"key": "A-1", "title": "Fine"},
        "not an object",
        {"key": 12, "title": "Number key"},
        {"title": "No key"},
        {"key": "A-5", "title": "Bad list", "acceptance_criteria": ["ok", 3]},
        {"key": "A-6", "title": "Bad labels", "labels": {"a": 1}},
    ]
    path = write(tmp_path, "s.json", json.dumps({"stories": items}, indent=2))

    message = fail(path)

    assert f"{path}, item 2 (line 7): expected an object with a key and a title, got text" in message
    assert f'{path}, item 3 (line 8), field "key": must be text, got a number (put it in quotes)' in message
    assert f'{path}, item 4 (line 12), field "key": is missing' in message
    assert f'{path}, item 5 (line 15), field "acceptance_criteria": every item must be text, found a number' in message
    assert f'{path}, item 6 (line 23), field "labels": must be a list of texts or one text, got an object' in message
    assert not UserStory.objects.exists()


def test_json_line_numbers_skip_other_top_level_fields(db, tmp_path):
    text = '{"source": {"tool": "jira", "list": [1, 2]},\n "stories": [\n  {"key": "A-1", "title": "One"},\n'
    text += '  {"key": "A-2"}\n]}'
    path = write(tmp_path, "s.json", text)
    assert f'{path}, item 2 (line 4), field "title": is missing' in fail(path)


def test_json_top_level_must_be_a_list(db, tmp_path):
    assert 'expected a list of stories or {"stories": [...]}' in fail(write(tmp_path, "s.json", '{"items": []}'))


def test_unknown_format_and_missing_path(db, tmp_path):
    long_name = write(tmp_path, "n.csv", f"key,title,project,project name\nA-1,One,NEW,{'n' * 201}\n")
    assert 'column "project": project "NEW" cannot be created: Ensure this value has at most 200' in fail(long_name)

    good = write(tmp_path, "good.csv", "key,title\nA-1,One\n")
    assert 'unknown format "xml" (use auto, jira, ado, github, csv, json)' in fail(good, "--format", "xml")
    assert f"{tmp_path / 'nope.csv'}: no such file" in fail(tmp_path / "nope.csv")
    assert f"{tmp_path} is a directory" in fail(tmp_path)


def test_format_is_detected_from_content_or_forced(db, tmp_path):
    path = write(tmp_path, "stories.txt.export", '[{"key": "A-1", "title": "One"}]')
    assert run(path)[0] == "created 1, updated 0, unchanged 0"
    csv_named_json = write(tmp_path, "data.json", "key,title\nA-2,Two\n")
    assert run(csv_named_json, "--format", "csv")[0] == "created 1, updated 0, unchanged 0"


def test_file_objects_from_an_upload_or_a_pipe(db):
    upload = io.BytesIO(b"key,title\nA-1,One\n")
    upload.name = "upload.csv"
    assert import_stories(upload).created == 1

    class Pipe(io.RawIOBase):  # readable once, not seekable, like stdin
        def __init__(self, data):
            self.data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = self.data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    assert import_stories(Pipe(b'[{"key": "A-2", "title": "Two"}]')).created == 1
    assert set(UserStory.objects.values_list("key", flat=True)) == {"A-1", "A-2"}


# --- Large files ----------------------------------------------------------------------------------------------------


def test_large_file_is_written_in_chunks_with_few_queries_and_progress(db, tmp_path, monkeypatch):
    monkeypatch.setattr(importing, "CHUNK_ROWS", 100)
    monkeypatch.setattr(importing, "PROGRESS_EVERY", 250)
    factories.make_project(key="BIG")
    factories.make_story(project=None, key="BIG-7", title="Existing")
    rows = "".join(f'BIG-{i},Story {i},"- first\n- second",High\n' for i in range(1000))
    path = write(tmp_path, "big.csv", "key,title,acceptance_criteria,priority\n" + rows)

    with CaptureQueriesContext(connection) as queries:
        out, err = run(path, "--project", "BIG")

    assert out == "created 999, updated 1, unchanged 0"
    assert UserStory.objects.filter(project__key="BIG").count() == 1000
    assert UserStory.objects.get(key="BIG-500").acceptance_criteria == ["first", "second"]
    # 10 chunks, each: one lookup in the check pass; when writing, one lookup, one executemany INSERT (or UPDATE),
    # the new stories' ids and one executemany INSERT of their history.
    assert len(queries) < 60
    assert "checking: 500 rows" in err and "writing: 1,000 rows" in err


# --- Splitting acceptance criteria ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("One\nTwo\n\nThree", ["One", "Two", "Three"]),
        ("- One\n* Two\n• Three", ["One", "Two", "Three"]),
        ("1. One\n2) Two\n# Three\nAC4: Four", ["One", "Two", "Three", "Four"]),
        (
            "- A long criterion that\n  wraps onto a second line\n- Next",
            ["A long criterion that\nwraps onto a second line", "Next"],
        ),
        (
            "Given a cart\nWhen I pay\nThen I get a receipt\nAnd an email\nThe cart holds at most 50 items",
            ["Given a cart\nWhen I pay\nThen I get a receipt\nAnd an email", "The cart holds at most 50 items"],
        ),
        (
            "Given A\nWhen B\nThen C\n\nGiven D\nWhen E\nThen F",
            ["Given A\nWhen B\nThen C", "Given D\nWhen E\nThen F"],
        ),
        (
            "Given A\nWhen B\nThen C\nWhen the cart is empty, checkout is disabled",
            ["Given A\nWhen B\nThen C", "When the cart is empty, checkout is disabled"],
        ),
        (
            "Passwords must be 8–64 characters\nWhen the cart is empty, checkout is disabled",
            ["Passwords must be 8–64 characters", "When the cart is empty, checkout is disabled"],
        ),
        ("h3. Acceptance criteria\n* One\n* Two", ["One", "Two"]),
        ("  \n", []),
    ],
)
def test_split_criteria(cell, expected):
    assert split_criteria(cell) == expected


def test_keys_are_upper_cased_and_a_case_variant_is_the_same_story(db, tmp_path):
    first = write(tmp_path, "a.csv", "key,title,project\nshop-2,Two,shop\nshop-10,Ten,shop\n")
    assert run(first)[0].startswith("created 2")
    assert list(UserStory.objects.values_list("key", "project__key")) == [("SHOP-2", "SHOP"), ("SHOP-10", "SHOP")]
    again = write(tmp_path, "b.csv", "key,title\nSHOP-2,Two\nShop-10,Ten (renamed)\n")
    assert run(again)[0].startswith("created 0, updated 1, unchanged 1")
    both = write(tmp_path, "c.csv", "key,title\nshop-3,Three\nSHOP-3,Three again\n")
    assert '"SHOP-3" is also on line 2' in fail(both)
