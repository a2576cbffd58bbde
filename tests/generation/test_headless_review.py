"""The review step without a browser: `review_jobs` and `generate_tests --save`, up to an export a script can use."""

import io
import subprocess
import sys
import zipfile

import pytest
from django.core.management import CommandError, call_command

from generation.models import GenerationJob, JobStatus
from stories.models import TestCase
from tests import factories
from tests.factories import make_ready_job
from tests.services import ROOT, django_env


def review(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("review_jobs", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_lists_the_jobs_waiting_for_review(story, project):
    job = make_ready_job(story)
    make_ready_job(factories.make_story(project=project, key="SHOP-13"), suggestions=1)
    GenerationJob.objects.create(story=story, status=JobStatus.SAVED)

    out, _ = review()
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0] == f"{job.pk}  SHOP-12  Ready to review: 2 suggested test cases (offline generator)"
    assert "SHOP-13  Ready to review: 1 suggested test cases" in lines[1]


def test_nothing_waiting_says_so(db):
    out, _ = review()
    assert out == "No job is waiting for review.\n"


def test_save_by_story_key_saves_the_suggestions_as_they_are_and_twice_saves_nothing_twice(story):
    job = make_ready_job(story)

    out, _ = review("--save", "shop-12")
    assert out == f"SHOP-12: saved — 2 test cases (job {str(job.pk)[:8]})\n"
    assert sorted(TestCase.objects.filter(story=story).values_list("title", flat=True)) == [
        "Suggested 0",
        "Suggested 1",
    ]
    job.refresh_from_db()
    assert job.status == JobStatus.SAVED

    out, _ = review("--save", str(job.pk))
    assert "was already saved — 2 test cases" in out
    assert TestCase.objects.filter(story=story).count() == 2


def test_save_and_discard_by_job_id_or_its_first_characters(story, project):
    first = make_ready_job(story)
    second = make_ready_job(factories.make_story(project=project, key="SHOP-13"))

    review("--discard", str(first.pk)[:8])
    review("--save", str(second.pk))

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.suggestions.count()) == (JobStatus.DISCARDED, 0)
    assert second.status == JobStatus.SAVED
    assert TestCase.objects.filter(story__key="SHOP-13").count() == 2


def test_save_all(story, project):
    make_ready_job(story)
    make_ready_job(factories.make_story(project=project, key="SHOP-13"), suggestions=1)
    out, _ = review("--save", "--all")
    assert TestCase.objects.count() == 3
    assert not GenerationJob.objects.filter(status=JobStatus.READY).exists()
    assert out.count("saved") == 2


def test_unknown_or_not_ready_targets_exit_non_zero_and_the_rest_is_still_saved(story, project):
    make_ready_job(story)
    GenerationJob.objects.create(story=factories.make_story(project=project, key="SHOP-13"), status=JobStatus.FAILED)

    err = io.StringIO()
    with pytest.raises(CommandError, match="2 of the named jobs could not be saved"):
        call_command("review_jobs", "--save", "SHOP-12", "SHOP-13", "NOPE-1", stdout=io.StringIO(), stderr=err)
    assert "SHOP-13 has no job waiting for review (its latest job is failed)." in err.getvalue()
    assert "NOPE-1: no such job or story." in err.getvalue()
    assert TestCase.objects.filter(story=story).count() == 2


def test_save_or_discard_needs_targets(db):
    with pytest.raises(CommandError, match="Name the jobs"):
        review("--save")


def test_generate_tests_save_needs_wait_or_inline(story):
    with pytest.raises(CommandError, match="--save needs --wait or --inline"):
        call_command("generate_tests", "SHOP-12", "--save", stdout=io.StringIO())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_script_goes_from_story_to_cucumber_files_without_a_browser(tmp_path):
    """generate_tests --inline --save, then export_tests: the pipeline that used to end at "Nothing to export"."""
    project = factories.make_project(key="HL")
    factories.make_story(project=project, key="HL-1")

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=django_env(QAFORGE_GENERATOR="offline"),
            capture_output=True,
            text=True,
            timeout=120,
        )

    generated = manage("generate_tests", "HL-1", "--inline", "--save", "--test-cases", "2", "--scenarios-per-test", "2")
    assert generated.returncode == 0, generated.stderr
    assert "HL-1: saved 2 test cases" in generated.stdout

    exported = manage("export_tests", "--project", "HL", "--output", str(tmp_path / "hl.zip"))
    assert exported.returncode == 0, exported.stderr
    with zipfile.ZipFile(tmp_path / "hl.zip") as archive:
        assert len(archive.namelist()) == 2
        assert all(name.startswith("HL-1/tc-") for name in archive.namelist())
