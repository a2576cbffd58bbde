"""Coverage of acceptance criteria where a QA lead looks: the story page (with "Generate for this criterion" and
the "story changed since" notice), the stories table's "Criteria not covered" filter and the coverage figure."""

import pytest
from django.urls import reverse

from generation import jobs
from generation.models import GenerationJob
from stories import permissions
from stories.models import Role, Scenario
from tests import factories

CRITERIA = ["Guest can enter an email", "Order confirmation is emailed", "The cart holds at most 50 items"]
STEPS = "Given a guest\nWhen they check out\nThen the order is confirmed"


@pytest.fixture
def editor(user, project):
    permissions.grant(user, project, Role.EDITOR)
    return user


@pytest.fixture
def checkout(project):
    story = factories.make_story(project=project, key="SHOP-7", acceptance_criteria=CRITERIA)
    case = factories.make_test_case(story, scenarios=0, title="Guest checkout")
    Scenario.objects.create(test_case=case, name="Email given", steps=STEPS, criteria=[1, 2])
    return story


def test_the_story_page_shows_which_criteria_saved_scenarios_cover(client_logged_in, editor, checkout):
    page = client_logged_in.get(checkout.get_absolute_url()).content.decode()
    assert "2 of 3 covered by saved scenarios" in page
    assert '<li class="criterion" id="ac-1">' in page
    assert 'title="Guest checkout · Email given">covered by 1 scenario</span>' in page
    assert '<li class="criterion uncovered" id="ac-3">' in page
    assert page.count("Generate for this criterion") == 1
    assert '<input type="hidden" name="criteria" value="3">' in page


def test_generate_for_this_criterion_from_the_story_page_queues_a_job_for_it(
    client_logged_in, editor, checkout, django_capture_on_commit_callbacks
):
    data = {"stories": checkout.key, "criteria": "3", "test_cases": "1", "test_types": "FUNCTIONAL"}
    with django_capture_on_commit_callbacks(execute=True):
        client_logged_in.post(reverse("generation:queue"), data, headers={"HX-Request": "true"})
    job = GenerationJob.objects.get(story=checkout)
    assert (job.criteria, job.test_cases, job.extends_id) == ([3], 1, None)


@pytest.mark.django_db(transaction=True)
def test_the_story_page_says_when_the_story_changed_since_generation(client, user, project):
    permissions.grant(user, project, Role.EDITOR)
    client.force_login(user)
    story = factories.make_story(project=project, key="SHOP-8", acceptance_criteria=CRITERIA)
    job, _ = jobs.queue_generation(story, test_cases=2, scenarios_per_test=1, enqueue=False)
    jobs.run_job(job.pk)
    jobs.save_suggestions(GenerationJob.objects.get(pk=job.pk), user=user)
    page = client.get(story.get_absolute_url()).content.decode()
    assert "The story changed since" not in page

    story.acceptance_criteria = [CRITERIA[0], "Order confirmation is emailed within a minute", CRITERIA[2], "New"]
    story.save()
    page = client.get(story.get_absolute_url()).content.decode()
    assert "The story changed since 2 of these test cases were generated" in page
    assert "AC-2 edited, AC-4 added." in page
    assert "Generate for the changed criteria" in page
    assert page.count('<input type="hidden" name="criteria"') == 2 + 2  # AC-2, AC-4 (changed); AC-3, AC-4 (uncovered)


def test_the_stories_table_filters_criteria_not_covered_and_shows_the_figure(client_logged_in, editor, checkout):
    covered = factories.make_story(project=checkout.project, key="SHOP-9", acceptance_criteria=["Only one"])
    case = factories.make_test_case(covered, scenarios=0)
    Scenario.objects.create(test_case=case, name="All", steps=STEPS, criteria=[1])

    page = client_logged_in.get(reverse("stories:list")).content.decode()
    assert "criteria covered: 3 of 4 (75%)" in page
    assert '<option value="uncovered">Criteria not covered</option>' in page

    page = client_logged_in.get(reverse("stories:list"), {"status": "uncovered"}).content.decode()
    assert "SHOP-7" in page and "SHOP-9" not in page
    assert "criteria covered: 2 of 3 (67%)" in page
