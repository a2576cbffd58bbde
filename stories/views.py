"""Pages for stories and test cases. Every form works with HTMX (fragments, inline errors, toasts) and without
JavaScript (POST, redirect, django message)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from generation import review_queue
from generation.badges import attach_badges
from stories import criteria, permissions
from stories.forms import StoryFilterForm, StoryForm, TestCaseForm, save_test_case, scenario_formset
from stories.models import Project, Scenario, TestCase, UserStory
from stories.toasts import toast_trigger

STORIES_PER_PAGE = 50


def _is_fragment_request(request: HttpRequest) -> bool:
    # A history restore (back button after the cache expired) needs the whole page, not a fragment.
    return bool(request.htmx) and not request.htmx.boosted and not request.htmx.history_restore_request


def _done(request: HttpRequest, message: str, url: str, warning: str = "") -> HttpResponse:
    """Finish a successful form: HTMX follows HX-Redirect, a plain browser a 302; both show the message as a toast."""
    messages.success(request, message)
    if warning:
        messages.warning(request, warning)
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


# --- Stories --------------------------------------------------------------------------------------------------

MAX_LABELS = 200


def story_labels(stories) -> list[str]:
    """The labels in use on `stories`, A→Z (the label filter's choices; at most MAX_LABELS)."""
    labels = {label for row in stories.values_list("labels", flat=True) for label in row or () if label}
    return sorted(labels, key=str.casefold)[:MAX_LABELS]


@require_GET
def story_list(request: HttpRequest) -> HttpResponse:
    visible_stories = permissions.stories_visible_to(request.user)
    form = StoryFilterForm(request.GET)
    stories = form.apply(visible_stories.select_related("project").with_test_case_count())
    filters = form.values()
    page = Paginator(stories, STORIES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page_obj": page,
        # Each row's generation badge on first load: the same partial and context the live stream pushes later.
        "stories": attach_badges(page.object_list),
        "filters": filters,
        "sorting": form.sort_columns(request.GET),
        "status_choices": form.choices("status"),
        "priority_choices": form.choices("priority"),
        "sort_choices": form.choices("sort"),
        "queue": lambda: review_queue.summary(request.user),  # "N stories ready to review" (2 queries, if shown)
        "labels": lambda: story_labels(visible_stories),  # a callable: only the full page's label filter asks
        # Acceptance criteria covered by saved scenarios, over what the filters show (a project's own figure).
        "coverage": lambda: stories.coverage(),
        "filtered": any(value for name, value in filters.items() if name != "sort"),
        # Tells "no stories yet" apart from "nothing matches"; only asked when the page is empty.
        "any_stories": bool(page.object_list) or visible_stories.exists(),
        # Editors of any project may add stories (to their projects, or without a project).
        "can_create": permissions.can_edit(request.user, None),
    }
    template = "stories/list.html#story-results" if _is_fragment_request(request) else "stories/list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
def story_detail(request: HttpRequest, key: str) -> HttpResponse:
    test_cases = TestCase.objects.select_related("source_job", "author").prefetch_related("scenarios").order_by("id")
    story = permissions.get_visible_or_404(
        UserStory.objects.select_related("project").prefetch_related(Prefetch("test_cases", queryset=test_cases)),
        request.user,
        key=key,
    )
    story.test_case_count = len(story.test_cases.all())  # prefetched: the badge needs no count query
    attach_badges([story])
    coverage = criteria.story_coverage(story)
    context = {
        "story": story,
        "can_edit": permissions.can_edit(request.user, story),
        "criteria": coverage,
        "covered": sum(1 for row in coverage if row["covered_by"]),
        "stale": criteria.staleness(story),
    }
    return render(request, "stories/detail.html", context)


@require_GET
def project_detail(request: HttpRequest, project_key: str) -> HttpResponse:
    """A project's coverage figure (criteria covered ÷ criteria) and its uncovered criteria, story by story."""
    project = permissions.get_visible_or_404(Project, request.user, key=project_key.upper())
    stories = permissions.visible(UserStory.objects.filter(project=project), request.user)
    context = {
        "project": project,
        "coverage": stories.coverage(),
        "story_count": stories.count(),
        "without_criteria": stories.filter(criteria_count=0).count(),
        "gap_count": stories.with_uncovered_criteria().count(),
        "gaps": stories.criteria_gaps(),  # the first 100; the table filters all of them
        "can_edit": permissions.can_edit(request.user, project),
    }
    return render(request, "stories/project.html", context)


@require_http_methods(["GET", "POST"])
def create_story(request: HttpRequest) -> HttpResponse:
    if not permissions.can_edit(request.user, None):  # i.e. an editor of no project at all
        raise PermissionDenied("Only editors of a project can create stories; ask a project owner for access.")
    # Preselect the project the user was browsing (?project=KEY).
    key = request.GET.get("project", "")
    project = permissions.editable_projects(request.user).filter(key=key).first() if key else None
    form = StoryForm(_posted(request), initial={"project": project}, user=request.user)
    if _checking_key(request):
        return render(request, "stories/story_form.html#key-warning", {"form": form})
    if request.method == "POST" and form.is_valid():
        story = form.save()
        return _done(
            request, f"Story {story.key} created.", story.get_absolute_url(), _unseen_key_warning(request, form)
        )
    return _render_form(request, "stories/story_form.html", "story-form", {"form": form, "story": None})


@require_http_methods(["GET", "POST"])
def edit_story(request: HttpRequest, key: str) -> HttpResponse:
    story = permissions.get_editable_or_403(UserStory.objects.select_related("project"), request.user, key=key)
    form = StoryForm(_posted(request), instance=story, user=request.user)
    if _checking_key(request):
        return render(request, "stories/story_form.html#key-warning", {"form": form})
    if request.method == "POST" and form.is_valid():
        story = form.save()
        return _done(request, f"Story {story.key} saved.", story.get_absolute_url(), _unseen_key_warning(request, form))
    return _render_form(request, "stories/story_form.html", "story-form", {"form": form, "story": story})


@require_http_methods(["GET", "POST"])
def delete_story(request: HttpRequest, key: str) -> HttpResponse:
    story = permissions.get_editable_or_403(UserStory.objects.with_test_case_count(), request.user, key=key)
    if request.method == "POST":
        story.delete()
        return _done(request, f"Story {key} deleted.", reverse("stories:list"))
    return render(
        request,
        "stories/confirm_delete.html",
        {"object": story, "kind": "story", "cancel_url": story.get_absolute_url()},
    )


# --- Test cases -----------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def create_test_case(request: HttpRequest, key: str) -> HttpResponse:
    story = permissions.get_editable_or_403(UserStory, request.user, key=key)
    test_case = TestCase(story=story, author=request.user)
    return _test_case_form(request, test_case, created=True)


@require_http_methods(["GET", "POST"])
def edit_test_case(request: HttpRequest, pk: int) -> HttpResponse:
    test_case = permissions.get_editable_or_403(TestCase.objects.select_related("story"), request.user, pk=pk)
    return _test_case_form(request, test_case, created=False)


@require_http_methods(["GET", "POST"])
def delete_test_case(request: HttpRequest, pk: int) -> HttpResponse:
    test_case = permissions.get_editable_or_403(TestCase.objects.select_related("story"), request.user, pk=pk)
    story_url = test_case.story.get_absolute_url()
    if request.method == "GET":
        return render(
            request, "stories/confirm_delete.html", {"object": test_case, "kind": "test case", "cancel_url": story_url}
        )
    title = test_case.title
    test_case.delete()
    if _is_fragment_request(request):
        # The page swaps the test case's <article> for this answer, which holds only an out-of-band update of the
        # count: the article disappears in place and the heading stays right.
        count = TestCase.objects.filter(story_id=test_case.story_id).count()
        response = render(request, "stories/detail.html#test-case-count", {"count": count, "oob": True})
        return toast_trigger(response, f"Test case “{title}” deleted.")
    messages.success(request, f"Test case “{title}” deleted.")
    return redirect(story_url)


@require_GET
def download_feature(request: HttpRequest, pk: int) -> HttpResponse:
    test_case = permissions.get_visible_or_404(
        TestCase.objects.select_related("story").prefetch_related(
            Prefetch("scenarios", queryset=Scenario.objects.order_by("position", "id"))
        ),
        request.user,
        pk=pk,
    )
    filename = f"{slugify(test_case.story.key)}-{slugify(test_case.title)[:60] or test_case.pk}.feature"
    response = HttpResponse(test_case.feature_text(), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- helpers --------------------------------------------------------------------------------------------------


def _checking_key(request: HttpRequest) -> bool:
    """The story form asking, as the key or the project changes, for the warning beside the key (saves nothing)."""
    return request.method == "POST" and request.POST.get("check") == "key"


def _unseen_key_warning(request: HttpRequest, form: StoryForm) -> str:
    # An HTMX form showed the warning beside the key while it was typed; a plain post (no JavaScript) says it in the
    # message after the save, the only place left.
    return "" if request.htmx else form.key_warning()


def _posted(request: HttpRequest):
    """The form data of a POST (even an empty one, so it is validated), None for a GET."""
    return request.POST if request.method == "POST" else None


def _render_form(request: HttpRequest, template: str, partial: str, context: dict) -> HttpResponse:
    # An invalid HTMX post re-renders just the form with status 200: htmx 2 does not swap 4xx answers by default.
    if _is_fragment_request(request):
        template = f"{template}#{partial}"
    return render(request, template, context)


def _test_case_form(request: HttpRequest, test_case: TestCase, created: bool) -> HttpResponse:
    form = TestCaseForm(_posted(request), instance=test_case)
    formset = scenario_formset(test_case, _posted(request))
    # Validate both, so errors in the test case and in its scenarios show at once.
    if request.method == "POST" and all([form.is_valid(), formset.is_valid()]):
        test_case = save_test_case(form, formset)
        verb = "created" if created else "saved"
        return _done(request, f"Test case “{test_case.title}” {verb}.", test_case.get_absolute_url())
    context = {"form": form, "formset": formset, "story": test_case.story, "test_case": test_case}
    return _render_form(request, "stories/test_case_form.html", "test-case-form", context)
