"""Where every suggestion came from: generator, model and version, prompt version, story revision, tokens, who
asked and who saved; which acceptance criteria each scenario covers; jobs for some criteria only."""

import pytest

from generation import jobs
from generation.engine.offline import OFFLINE_VERSION
from generation.engine.prompts import PROMPT_VERSION
from generation.models import GenerationJob
from stories.models import Scenario

pytestmark = pytest.mark.django_db(transaction=True)  # run_job manages its own connections and threads

CRITERIA = [
    "Given a signed-in shopper, when they add an item to the cart, then the cart shows 1 item",
    "The cart holds at most 50 items",
    "Removing the last item empties the cart",
]


@pytest.fixture
def cart(story):
    story.acceptance_criteria = CRITERIA
    story.save()
    return story


def run(story, user=None, **options) -> GenerationJob:
    job, _ = jobs.queue_generation(story, user=user, enqueue=False, **options)
    assert jobs.run_job(job.pk) == "ready"
    return GenerationJob.objects.get(pk=job.pk)


def test_an_offline_job_and_its_saved_test_cases_record_their_provenance(cart, user):
    job = run(cart, user=user, test_cases=3, scenarios_per_test=2)
    assert (job.generator, job.model, job.prompt_version) == ("offline", "", OFFLINE_VERSION)
    assert job.story_revision == cart.revision
    assert job.story_criteria == [[1, CRITERIA[0]], [2, CRITERIA[1]], [3, CRITERIA[2]]]

    saved = jobs.save_suggestions(job, user=user)
    job.refresh_from_db()
    assert (job.saved_by, job.review_outcome) == (user, {"suggested": 3, "unchanged": 3, "edited": 0, "deleted": 0})
    case = saved[0]
    assert (case.generator, case.prompt_version, case.story_revision) == ("offline", OFFLINE_VERSION, cart.revision)
    assert (case.requested_by, case.author, case.review) == (user, user, "unchanged")
    assert case.generated_at == job.finished_at


def test_the_offline_generator_cites_the_criterion_each_case_is_about(cart, user):
    job = run(cart, test_cases=3, scenarios_per_test=2)
    cites = [sc["criteria"] for s in job.suggestions.all() for sc in s.scenarios]
    assert cites == [[1], [1], [2], [2], [3], [3]]
    jobs.save_suggestions(job, user=user)
    assert list(Scenario.objects.filter(test_case__story=cart).order_by("pk").values_list("criteria", flat=True))[
        :2
    ] == [[1], [1]]
    cart.refresh_from_db()
    assert (cart.criteria_count, cart.criteria_covered) == (3, 3)


def test_a_gemini_job_records_model_version_prompt_version_tokens_and_citations(cart, fake_gemini):
    fake_gemini.configure(faults=[{"fault": "bad_citation"}])
    job = run(cart, test_cases=3, scenarios_per_test=2)
    assert (job.generator, job.model, job.model_version) == ("gemini", "gemini-2.5-flash", "fake-gemini")
    assert job.prompt_version == PROMPT_VERSION
    assert job.token_usage == {"prompt": 200, "output": 400, "total": 600}  # one call: the fake's usageMetadata
    cites = [sc["criteria"] for s in job.suggestions.all() for sc in s.scenarios]
    assert cites == [[1], [1], [2], [2], [3], [3]]  # AC-99 does not exist: dropped …
    assert job.report["unknown_citations"] == 6  # … and counted


def test_the_prompt_names_criteria_by_their_stable_numbers(cart, fake_gemini):
    cart.acceptance_criteria = CRITERIA[1:]  # AC-1 removed: AC-2 and AC-3 keep their numbers
    cart.save()
    job = run(cart, test_cases=2, scenarios_per_test=1)
    cites = [sc["criteria"] for s in job.suggestions.all() for sc in s.scenarios]
    assert cites == [[2], [3]]


def test_a_job_for_some_criteria_only_plans_cases_for_those(cart, fake_gemini):
    job = run(cart, test_cases=2, scenarios_per_test=2, criteria=[3])
    assert job.criteria == [3]
    assert {n for s in job.suggestions.all() for sc in s.scenarios for n in sc["criteria"]} == {3}
    (call,) = fake_gemini.calls
    assert call["cases"] == [1, 2]


def test_unknown_criteria_are_refused(cart):
    with pytest.raises(jobs.QueueError, match="has no acceptance criterion AC-9"):
        jobs.queue_generation(cart, criteria=[9], enqueue=False)


def test_a_job_extending_a_review_adds_its_suggestions_to_that_review(cart):
    review = run(cart, test_cases=2, scenarios_per_test=1)
    job, _ = jobs.queue_generation(
        cart, test_cases=1, scenarios_per_test=1, criteria=[3], extends=review, enqueue=False
    )
    assert jobs.run_job(job.pk) == "ready"
    assert not GenerationJob.objects.filter(pk=job.pk).exists(), "the extension's work now lives in the review"
    review.refresh_from_db()
    assert review.status == "ready"
    assert [s.position for s in review.suggestions.all()] == [0, 1, 2]
    assert review.suggestions.last().scenarios[0]["criteria"] == [3]
    assert len(review.report["extensions"]) == 1


def test_an_extension_whose_review_was_saved_meanwhile_stays_a_review_of_its_own(cart, user):
    review = run(cart, test_cases=1, scenarios_per_test=1)
    job, _ = jobs.queue_generation(
        cart, test_cases=1, scenarios_per_test=1, criteria=[2], extends=review, enqueue=False
    )
    jobs.save_suggestions(review, user=user)
    assert jobs.run_job(job.pk) == "ready"
    assert GenerationJob.objects.get(pk=job.pk).suggestions.count() == 1
