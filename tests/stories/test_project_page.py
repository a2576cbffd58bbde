"""A project's coverage figure (criteria covered ÷ criteria) on its own page, linked from the stories table's project
heading, with its uncovered criteria listed story by story; and the same figure and list in the API."""

import pytest
from django.urls import reverse

from api.models import ApiToken
from stories import permissions
from stories.models import Role, Scenario
from tests import factories
from tests.api.conftest import ApiClient

STEPS = "Given a guest\nWhen they check out\nThen the order is confirmed"


@pytest.fixture
def shop(project):
    """SHOP: SHOP-1 with 3 criteria (AC-1 and AC-2 covered), SHOP-2 with 2 (none covered), SHOP-3 without any."""
    first = factories.make_story(project=project, key="SHOP-1", acceptance_criteria=["Email", "Confirm <b>", "Limit"])
    case = factories.make_test_case(first, scenarios=0, title="Guest checkout")
    Scenario.objects.create(test_case=case, name="Email given", steps=STEPS, criteria=[1, 2])
    factories.make_story(project=project, key="SHOP-2", acceptance_criteria=["Pay by card", "Pay by voucher"])
    factories.make_story(project=project, key="SHOP-3", acceptance_criteria=[])
    factories.make_story(key="BANK-1", acceptance_criteria=["Not SHOP's"])  # another project: not counted
    return project


def test_the_project_page_shows_its_coverage_figure_and_the_gaps_by_story(client_logged_in, shop):
    html = client_logged_in.get(reverse("stories:project", args=["shop"])).content.decode()
    assert "<strong data-coverage-percent>40%</strong>" in html
    assert "2 of 5 acceptance criteria covered by saved scenarios" in html
    assert "3 stories</a>" in html and "1 without acceptance criteria (not counted)" in html
    assert 'Not covered yet <small class="muted">2 stories</small>' in html
    assert html.index('id="gap-SHOP-1"') < html.index('id="gap-SHOP-2"') and 'id="gap-SHOP-3"' not in html
    assert 'href="/stories/SHOP-1/#ac-3">AC-3</a>' in html and "/stories/SHOP-1/#ac-1" not in html
    assert "1 of 3 not covered" in html and "2 of 2 not covered" in html
    # Editors generate for a story's gaps from here; one form per story, with its uncovered criteria.
    assert html.count("Generate for this criterion") == 1 and html.count("Generate for these criteria") == 1
    assert '<input type="hidden" name="criteria" value="3">' in html


def test_a_viewer_reads_the_figure_but_is_offered_nothing_to_change(client_logged_in, user, shop):
    permissions.grant(user, shop, Role.VIEWER)
    html = client_logged_in.get(reverse("stories:project", args=["SHOP"])).content.decode()
    assert "40%" in html and "Generate for" not in html


def test_the_stories_table_links_each_project_heading_to_its_page(client_logged_in, shop):
    html = client_logged_in.get(reverse("stories:list")).content.decode()
    assert f'<a href="{reverse("stories:project", args=["SHOP"])}" class="project-members-link">Coverage</a>' in html


def test_a_project_without_uncovered_criteria_says_so(client_logged_in, project):
    story = factories.make_story(project=project, key="SHOP-9", acceptance_criteria=["One"])
    case = factories.make_test_case(story, scenarios=0)
    Scenario.objects.create(test_case=case, name="Covers it", steps=STEPS, criteria=[1])
    html = client_logged_in.get(reverse("stories:project", args=["SHOP"])).content.decode()
    assert "100%" in html and "Every acceptance criterion is covered" in html


def test_the_api_carries_the_figure_and_the_gaps(user, shop):
    _row, raw = ApiToken.objects.issue(user, "tests")
    api = ApiClient(raw)
    (listed,) = [p for p in api.get("/api/projects").json() if p["key"] == "SHOP"]
    assert (listed["criteria"], listed["criteria_covered"], listed["coverage_percent"]) == (5, 2, 40)
    body = api.get("/api/projects/SHOP").json()
    assert {k: body[k] for k in ("key", "story_count", "criteria", "criteria_covered", "coverage_percent")} == {
        "key": "SHOP",
        "story_count": 3,
        "criteria": 5,
        "criteria_covered": 2,
        "coverage_percent": 40,
    }
    assert body["uncovered_stories"] == 2
    assert body["uncovered"][0] == {
        "story": "SHOP-1",
        "title": body["uncovered"][0]["title"],
        "criteria": 3,
        "uncovered": [{"number": 3, "label": "AC-3", "text": "Limit"}],
    }
    assert [c["label"] for c in body["uncovered"][1]["uncovered"]] == ["AC-1", "AC-2"]
    assert api.get("/api/projects/NOPE").status_code == 404
