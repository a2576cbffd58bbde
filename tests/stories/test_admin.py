"""The Django admin pages for every stories model load for a superuser."""

import pytest
from django.urls import reverse

from stories import permissions
from tests import factories


@pytest.fixture
def rows(story):
    test_case = factories.make_test_case(story=story, title="Cart keeps items", scenarios=2)
    scenario = test_case.scenarios.first()
    membership = permissions.grant(factories.make_user("viewer"), story.project, "viewer")
    return {
        "project": story.project,
        "userstory": story,
        "testcase": test_case,
        "scenario": scenario,
        "membership": membership,
    }


@pytest.mark.parametrize("model", ["project", "userstory", "testcase", "scenario", "membership"])
def test_admin_changelist_change_and_add_pages_load(admin_user_logged_in, rows, model):
    obj = rows[model]
    for url in [
        reverse(f"admin:stories_{model}_changelist"),
        reverse(f"admin:stories_{model}_change", args=[obj.pk]),
        reverse(f"admin:stories_{model}_add"),
    ]:
        response = admin_user_logged_in.get(url)
        assert response.status_code == 200, url


def test_story_changelist_shows_counts_search_and_filters(admin_user_logged_in, rows, django_assert_max_num_queries):
    factories.make_story(project=None, key="LOOSE-1", title="Loose story")
    url = reverse("admin:stories_userstory_changelist")
    with django_assert_max_num_queries(12):
        page = admin_user_logged_in.get(url).content.decode()
    assert '<td class="field-test_case_count">1</td>' in page
    assert "By project" in page and "By priority" in page and "By status" in page
    found = admin_user_logged_in.get(url, {"q": "loose"}).content.decode()
    assert "Loose story" in found and "Add items to the cart" not in found


def test_story_change_page_lists_its_test_cases_inline(admin_user_logged_in, rows):
    page = admin_user_logged_in.get(reverse("admin:stories_userstory_change", args=[rows["userstory"].pk])).content
    page = page.decode()
    assert 'value="Cart keeps items"' in page
    assert reverse("admin:stories_testcase_change", args=[rows["testcase"].pk]) in page


def test_test_case_change_page_previews_the_feature_file(admin_user_logged_in, rows):
    page = admin_user_logged_in.get(reverse("admin:stories_testcase_change", args=[rows["testcase"].pk])).content
    page = page.decode()
    assert "Feature: Cart keeps items" in page
    assert page.count('name="scenarios-') > 0
    assert "By test type" in admin_user_logged_in.get(reverse("admin:stories_testcase_changelist")).content.decode()


def test_admin_rejects_invalid_gherkin_in_a_scenario(admin_user_logged_in, rows):
    scenario = rows["scenario"]
    url = reverse("admin:stories_scenario_change", args=[scenario.pk])
    response = admin_user_logged_in.post(
        url, {"test_case": scenario.test_case_id, "position": 0, "name": "Broken", "steps": "Given x", "tags": "[]"}
    )
    assert response.status_code == 200
    assert "needs a &#x27;Then&#x27; step" in response.content.decode()
    scenario.refresh_from_db()
    assert scenario.name != "Broken"


def test_admin_needs_staff(client_logged_in, db):
    response = client_logged_in.get(reverse("admin:stories_userstory_changelist"))
    assert response.status_code == 302


def test_story_changelist_lists_keys_in_natural_order_by_default_and_by_the_key_column(admin_user_logged_in, project):
    for key in ["SHOP-10", "SHOP-2", "SHOP-1"]:
        factories.make_story(project=project, key=key, title=f"Title of {key}")
    url = reverse("admin:stories_userstory_changelist")
    for query in ({}, {"o": "1"}):  # default order, then a click on the Key column
        page = admin_user_logged_in.get(url, query).content.decode()
        assert page.index("Title of SHOP-1<") < page.index("Title of SHOP-2<") < page.index("Title of SHOP-10<")
    descending = admin_user_logged_in.get(url, {"o": "-1"}).content.decode()
    assert descending.index("Title of SHOP-10<") < descending.index("Title of SHOP-2<")
