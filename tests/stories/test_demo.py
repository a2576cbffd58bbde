"""`manage.py demo`: demo projects, stories, test cases and the demo user; idempotent."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from gherkin.parser import Parser
from gherkin.token_scanner import TokenScanner

from stories import demo_data, permissions
from stories.models import Membership, Project, Scenario, TestCase, UserStory


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The demo command hashes "demo" on every run; the production hasher's deliberate slowness only slows the tests.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def demo() -> str:
    out = io.StringIO()
    call_command("demo", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_demo_creates_projects_stories_test_cases_and_prints_the_login(db):
    out = demo()

    assert "Demo data loaded" in out
    assert "http://127.0.0.1:8000/" in out and "demo / demo" in out
    assert dict(Project.objects.values_list("key", "name")) == {"SHOP": "Web shop", "BANK": "Mobile banking"}
    assert UserStory.objects.count() == len(demo_data.STORIES) == 20
    assert UserStory.objects.filter(project__key="SHOP").count() == 10
    assert UserStory.objects.get(key="IDEA-1").project is None  # the "not linked to a project" case
    for story in UserStory.objects.all():
        assert 3 <= len(story.acceptance_criteria) <= 6, story.key
        assert (
            story.description.startswith("As a")
            and " I want " in story.description
            and " so that " in story.description
        )
        assert story.labels
    assert {s.priority for s in UserStory.objects.all()} == {"highest", "high", "medium", "low", "lowest"}
    assert any("\nWhen " in c for c in UserStory.objects.get(key="BANK-4").acceptance_criteria)
    assert TestCase.objects.count() == 3
    assert set(TestCase.objects.values_list("story__key", flat=True)) == {"SHOP-5", "BANK-1"}
    assert TestCase.objects.filter(author__username="demo").count() == 3


def test_demo_test_cases_are_valid_gherkin(db):
    demo()

    for scenario in Scenario.objects.all():
        scenario.full_clean(exclude=["test_case"])  # the model's own Gherkin check
    for test_case in TestCase.objects.all():
        document = Parser().parse(TokenScanner(test_case.feature_text()))
        assert len(document["feature"]["children"]) == test_case.scenarios.count()


def test_demo_twice_changes_nothing_and_says_so(db):
    demo()
    counts = (Project.objects.count(), UserStory.objects.count(), TestCase.objects.count(), Scenario.objects.count())
    stamps = dict(UserStory.objects.values_list("key", "updated_at"))

    out = demo()

    assert "Demo data already loaded: nothing changed." in out
    assert "demo / demo" in out
    assert (Project.objects.count(), UserStory.objects.count(), TestCase.objects.count(), Scenario.objects.count()) == (
        counts
    )
    assert dict(UserStory.objects.values_list("key", "updated_at")) == stamps


def test_demo_keeps_edits_and_restores_only_what_is_missing(db):
    demo()
    UserStory.objects.filter(key="SHOP-1").update(title="Edited by the QA lead")
    UserStory.objects.filter(key="SHOP-2").delete()

    out = demo()

    assert "1 story" in out
    assert UserStory.objects.get(key="SHOP-1").title == "Edited by the QA lead"
    assert UserStory.objects.filter(key="SHOP-2").exists()


def test_demo_user_can_log_in_and_reach_the_admin(db, client):
    demo()

    assert client.login(username="demo", password="demo")
    assert client.get("/admin/").status_code == 200


def test_demo_resets_the_demo_users_password_and_rights(db, client):
    get_user_model().objects.create_user("demo", password="something-else", is_staff=False)

    out = demo()

    assert "user demo (password and admin rights reset)" in out
    user = get_user_model().objects.get(username="demo")
    assert user.is_staff and user.is_superuser
    assert client.login(username="demo", password="demo")


def test_no_demo_user_without_the_demo_command(db):
    assert not get_user_model().objects.filter(username="demo").exists()


def test_demo_adds_a_viewer_of_one_project_and_says_how_to_log_in(db, capsys):
    call_command("demo")
    out = capsys.readouterr().out
    assert "log in as viewer / viewer (a viewer of SHOP only)" in out
    viewer = get_user_model().objects.get(username="viewer")
    assert viewer.check_password("viewer") and not viewer.is_staff
    assert list(Membership.objects.filter(user=viewer).values_list("project__key", "role")) == [("SHOP", "viewer")]
    assert not permissions.can_view(viewer, Project.objects.get(key="BANK"))
    assert set(Membership.objects.filter(user__username="demo").values_list("project__key", "role")) == {
        ("SHOP", "owner"),
        ("BANK", "owner"),
    }
    call_command("demo")  # idempotent
    assert Membership.objects.count() == 3
