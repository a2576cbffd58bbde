"""History pages: a story's changes, a test case's versions with a Gherkin diff, restoring a deleted test case."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from stories import history, permissions
from stories.models import TestCase, UserStory


@require_GET
def story_history(request: HttpRequest, key: str) -> HttpResponse:
    story = permissions.get_visible_or_404(UserStory.objects.select_related("project"), request.user, key=key)
    deleted = [
        r
        for r in TestCase.history.filter(story_id=story.pk, history_type="-").order_by("-history_date")
        if not TestCase.objects.filter(pk=r.id).exists()
    ]
    context = {
        "story": story,
        "changes": history.story_changes(story),
        "deleted": {r.id: r for r in deleted}.values(),  # each deleted test case once, latest deletion
        "can_edit": permissions.can_edit(request.user, story),
    }
    return render(request, "stories/history.html", context)


def _story_of_test_case(request: HttpRequest, pk: int) -> UserStory:
    """The story a test case (existing or deleted) belongs to, if the user may see it; else 404."""
    last = TestCase.history.filter(id=pk).order_by("-history_date").first()
    if last is None:
        raise Http404("No test case matches the given query.")
    return permissions.get_visible_or_404(UserStory.objects.select_related("project"), request.user, pk=last.story_id)


@require_GET
def test_case_history(request: HttpRequest, pk: int) -> HttpResponse:
    story = _story_of_test_case(request, pk)
    versions = history.test_case_versions(pk)
    compare = _compare(request, versions)
    context = {
        "story": story,
        "test_case_id": pk,
        "title": next((v.title for v in reversed(versions) if v.title), f"Test case {pk}"),
        "versions": list(reversed(versions)),
        "compare": compare,
        "deleted": bool(versions) and versions[-1].deleted,
        "can_edit": permissions.can_edit(request.user, story),
    }
    return render(request, "stories/test_case_history.html", context)


def _compare(request: HttpRequest, versions: list[history.Version]) -> dict | None:
    """?from=N&to=M: the diff between two versions' Gherkin."""
    numbers = {v.number: v for v in versions}
    try:
        first, second = numbers[int(request.GET["from"])], numbers[int(request.GET["to"])]
    except (KeyError, ValueError):
        return None
    return {"from": first, "to": second, "diff": history.gherkin_diff(first.text, second.text)}


@require_POST
def restore_test_case(request: HttpRequest, pk: int) -> HttpResponse:
    story = _story_of_test_case(request, pk)
    permissions.require_edit(request.user, story)
    try:
        test_case = history.restore_test_case(pk, request.user)
    except history.RestoreError as error:
        messages.error(request, str(error))
        return redirect("stories:test_case_history", pk=pk)
    messages.success(request, f"Test case “{test_case.title}” restored.")
    return redirect(test_case.get_absolute_url())
