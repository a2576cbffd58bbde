"""Plain helpers that make rows for tests: make_story(**overrides) and friends."""

from __future__ import annotations

import itertools

from django.contrib.auth import get_user_model

from stories.models import Project, Scenario, TestCase, UserStory

_seq = itertools.count(1)


# A Scenario Outline as QAForge stores it: steps with <placeholders>, then an aligned Examples table.
OUTLINE_STEPS = (
    "Given a shopper with an empty cart\n"
    "When they add <quantity> items\n"
    "Then the cart is <result>\n"
    "Examples:\n"
    "| quantity | result   |\n"
    "| 50       | accepted |\n"
    "| 51       | refused  |"
)
CART_CRITERIA = (
    "Given a signed-in shopper, when they add an item to the cart, then the cart shows 1 item",
    "The cart holds at most 50 items",
    "Removing the last item empties the cart",
)


def cart_snapshot(criteria: int = 3, **overrides):
    """The engine's view of the "Add items to the cart" story, with its first `criteria` acceptance criteria."""
    from generation.engine import StorySnapshot

    fields = {
        "key": "SHOP-12",
        "title": "Add items to the cart",
        "description": "As a shopper I want to add items to my cart so that I can buy them later.",
        "acceptance_criteria": CART_CRITERIA[:criteria],
        "project_name": "Web shop",
    }
    fields.update(overrides)
    return StorySnapshot(**fields)


def make_user(username: str | None = None, password: str = "pass-1234-word", **overrides):
    username = username or f"user{next(_seq)}"
    user = get_user_model().objects.create_user(username=username, password=password, **overrides)
    user.raw_password = password
    return user


def make_project(**overrides) -> Project:
    n = next(_seq)
    fields = {"key": f"P{n}", "name": f"Project {n}", "description": ""}
    fields.update(overrides)
    return Project.objects.create(**fields)


def make_story(**overrides) -> UserStory:
    n = next(_seq)
    if "project" not in overrides:
        overrides["project"] = make_project()
    project = overrides["project"]
    fields = {
        "key": f"{project.key if project else 'ST'}-{n}",
        "title": f"Shopper can do thing {n}",
        "description": "As a shopper I want to do a thing so that I get value.",
        "acceptance_criteria": [
            "Given a signed-in shopper, when they add an item to the cart, then the cart shows 1 item",
            "The cart holds at most 50 items",
        ],
    }
    fields.update(overrides)
    return UserStory.objects.create(**fields)


def make_test_case(story: UserStory | None = None, scenarios: int = 1, **overrides) -> TestCase:
    story = story or make_story()
    fields = {"title": f"Test case {next(_seq)}", "objective": "Check the thing works."}
    fields.update(overrides)
    test_case = TestCase.objects.create(story=story, **fields)
    for i in range(scenarios):
        Scenario.objects.create(
            test_case=test_case,
            position=i,
            name=f"Scenario {i + 1}",
            steps="Given a signed-in shopper\nWhen they add an item to the cart\nThen the cart shows 1 item",
            tags=["@smoke"],
        )
    return test_case


def make_ready_job(story, suggestions=2, **overrides):
    """A generation job of `story` waiting for review, with `suggestions` suggested test cases of two scenarios."""
    from generation.models import GenerationJob, JobStatus, SuggestedTestCase

    job = GenerationJob.objects.create(story=story, status=JobStatus.READY, generator="offline", **overrides)
    for i in range(suggestions):
        SuggestedTestCase.objects.create(
            job=job,
            position=i,
            title=f"Suggested {i}",
            test_type="FUNCTIONAL",
            priority="high",
            scenarios=[
                {"name": f"Happy path {i}", "steps": "Given a cart\nWhen I add an item\nThen I see 1 item", "tags": []},
                {"name": f"Empty {i}", "steps": "Given an empty cart\nWhen I open it\nThen I see no items", "tags": []},
            ],
        )
    return job
