"""The permission module: roles per project, content without a project, superusers, 404 versus 403."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from generation.models import GenerationJob, SuggestedTestCase
from stories import permissions
from stories.models import Membership, Project, Role, Scenario, TestCase, UserStory
from tests import factories


@pytest.fixture
def content(shop, bank):
    """A story, test case, scenario, job and suggestion in SHOP; one story in BANK; one story without a project."""
    story = factories.make_story(project=shop, key="SHOP-1")
    test_case = factories.make_test_case(story)
    job = GenerationJob.objects.create(story=story, status="ready")
    suggestion = SuggestedTestCase.objects.create(job=job, title="Suggested")
    return {
        "project": shop,
        "story": story,
        "test_case": test_case,
        "scenario": test_case.scenarios.get(),
        "job": job,
        "suggestion": suggestion,
        "bank_story": factories.make_story(project=bank, key="BANK-1"),
        "loose_story": factories.make_story(project=None, key="LOOSE-1"),
    }


def member(role: str | None, project: Project, **user_fields):
    user = factories.make_user(**user_fields)
    if role:
        permissions.grant(user, project, role)
    return user


SHOP_OBJECTS = ["project", "story", "test_case", "scenario", "job", "suggestion"]


@pytest.mark.parametrize("name", SHOP_OBJECTS)
@pytest.mark.parametrize(
    "role, view, edit, manage",
    [
        (None, False, False, False),
        (Role.VIEWER, True, False, False),
        (Role.EDITOR, True, True, False),
        (Role.OWNER, True, True, True),
    ],
)
def test_each_role_includes_the_ones_before_it(content, name, role, view, edit, manage):
    user = member(role, content["project"])
    obj = content[name]
    assert permissions.can_view(user, obj) is view
    assert permissions.can_edit(user, obj) is edit
    assert permissions.can_manage(user, content["project"]) is manage


def test_a_role_in_one_project_gives_nothing_in_another(content, bank):
    owner_elsewhere = member(Role.OWNER, bank)
    for name in SHOP_OBJECTS:
        assert not permissions.can_view(owner_elsewhere, content[name])
        assert not permissions.can_edit(owner_elsewhere, content[name])
    assert list(permissions.stories_visible_to(owner_elsewhere).order_by("key")) == [
        content["bank_story"],
        content["loose_story"],
    ]


def test_superusers_see_and_change_everything_staff_get_nothing_special(content):
    superuser = factories.make_user(is_superuser=True, is_staff=True)
    staff = factories.make_user(is_staff=True)
    assert permissions.can_manage(superuser, content["project"])
    assert permissions.can_edit(superuser, content["scenario"])
    assert permissions.stories_visible_to(superuser).count() == 3
    assert not permissions.can_view(staff, content["story"])
    assert list(permissions.stories_visible_to(staff)) == [content["loose_story"]]


def test_anonymous_and_inactive_users_see_nothing(content, django_user_model):
    from django.contrib.auth.models import AnonymousUser

    inactive = member(Role.OWNER, content["project"], is_active=False)
    for user in (AnonymousUser(), inactive, None):
        assert not permissions.can_view(user, content["story"])
        assert not permissions.can_view(user, content["loose_story"])
        assert not permissions.stories_visible_to(user).exists()
        assert not permissions.visible_projects(user).exists()


def test_stories_without_a_project_are_read_by_everyone_and_changed_by_editors_of_any_project(content, bank):
    loose = content["loose_story"]
    nobody = factories.make_user()
    viewer = member(Role.VIEWER, bank)
    editor = member(Role.EDITOR, bank)
    assert permissions.can_view(nobody, loose) and not permissions.can_edit(nobody, loose)
    assert permissions.can_view(viewer, loose) and not permissions.can_edit(viewer, loose)
    assert permissions.can_edit(editor, loose)
    assert permissions.can_edit(editor, None)  # may create a story without a project
    assert not permissions.can_edit(viewer, None)
    test_case = factories.make_test_case(loose)
    assert permissions.can_edit(editor, test_case.scenarios.get())


def test_querysets_follow_the_same_rules(content, bank):
    viewer = member(Role.VIEWER, content["project"])
    assert list(permissions.visible_projects(viewer)) == [content["project"]]
    assert not permissions.editable_projects(viewer).exists()
    assert set(permissions.stories_visible_to(viewer)) == {content["story"], content["loose_story"]}
    assert not permissions.editable(UserStory.objects.all(), viewer).exists()
    assert list(permissions.visible(TestCase.objects.all(), viewer)) == [content["test_case"]]
    assert list(permissions.visible(Scenario.objects.all(), viewer)) == [content["scenario"]]
    assert list(permissions.visible(GenerationJob.objects.all(), viewer)) == [content["job"]]
    assert list(permissions.visible(SuggestedTestCase.objects.all(), viewer)) == [content["suggestion"]]
    editor = member(Role.EDITOR, content["project"])
    assert set(permissions.editable(UserStory.objects.all(), editor)) == {content["story"], content["loose_story"]}
    assert list(permissions.editable_projects(editor)) == [content["project"]]


def test_visible_querysets_compose_with_counts_without_duplicate_rows(content):
    # Several members of one project must not multiply its stories (a join through memberships would).
    for role in (Role.VIEWER, Role.EDITOR, Role.OWNER):
        member(role, content["project"])
    viewer = member(Role.VIEWER, content["project"])
    stories = permissions.stories_visible_to(viewer).with_test_case_count()
    assert stories.count() == 2
    assert stories.get(key="SHOP-1").test_case_count == 1


def test_get_visible_or_404_hides_what_a_user_may_not_see(content):
    outsider = factories.make_user()
    viewer = member(Role.VIEWER, content["project"])
    with pytest.raises(Http404):
        permissions.get_visible_or_404(UserStory, outsider, key="SHOP-1")
    with pytest.raises(Http404):
        permissions.get_visible_or_404(UserStory, viewer, key="NOPE-1")
    assert permissions.get_visible_or_404(UserStory.objects.select_related("project"), viewer, key="SHOP-1")


def test_get_editable_or_403_tells_may_not_see_from_may_not_change(content):
    outsider = factories.make_user()
    viewer = member(Role.VIEWER, content["project"])
    editor = member(Role.EDITOR, content["project"])
    with pytest.raises(Http404):
        permissions.get_editable_or_403(GenerationJob, outsider, pk=content["job"].pk)
    with pytest.raises(PermissionDenied):
        permissions.get_editable_or_403(GenerationJob, viewer, pk=content["job"].pk)
    assert permissions.get_editable_or_403(GenerationJob, editor, pk=content["job"].pk) == content["job"]
    with pytest.raises(PermissionDenied):
        permissions.require_manage(editor, content["project"])


def test_roles_are_read_once_per_user_and_grant_revoke_refresh_them(content, django_assert_num_queries):
    user = factories.make_user()
    with django_assert_num_queries(1):
        for _ in range(3):
            assert not permissions.can_view(user, content["story"])
    permissions.grant(user, content["project"], Role.EDITOR)
    assert permissions.role_in(user, content["project"]) == Role.EDITOR
    permissions.grant(user, content["project"], Role.VIEWER)  # a new role replaces the old one
    assert Membership.objects.get(user=user).role == Role.VIEWER
    assert not permissions.can_edit(user, content["story"])
    assert permissions.revoke(user, content["project"])
    assert not permissions.can_view(user, content["story"])
    assert not permissions.revoke(user, content["project"])


def test_unknown_roles_and_models_are_refused(content):
    user = factories.make_user()
    with pytest.raises(ValueError, match="Unknown role"):
        permissions.grant(user, content["project"], "admin")
    with pytest.raises(TypeError, match="PROJECT_PATHS"):
        permissions.can_view(user, user)
