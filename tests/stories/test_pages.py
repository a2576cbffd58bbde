"""Every page: login required, content for a signed-in user, HTMX fragments, filters, escaping and query counts."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from stories import permissions
from stories.models import Project, Role, UserStory
from tests import factories


def _page_urls(story, test_case) -> list[str]:
    return [
        reverse("stories:list"),
        reverse("stories:detail", args=[story.key]),
        reverse("stories:create_story"),
        reverse("stories:edit_story", args=[story.key]),
        reverse("stories:delete_story", args=[story.key]),
        reverse("stories:create_test_case", args=[story.key]),
        reverse("stories:edit_test_case", args=[test_case.pk]),
        reverse("stories:delete_test_case", args=[test_case.pk]),
        reverse("stories:download_feature", args=[test_case.pk]),
    ]


def test_anonymous_users_are_sent_to_login_from_every_page(client, story):
    test_case = factories.make_test_case(story=story)
    for url in [*_page_urls(story, test_case), "/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    # Posting does not get past the login either.
    response = client.post(reverse("stories:delete_story", args=[story.key]))
    assert response.status_code == 302
    assert UserStory.objects.filter(pk=story.pk).exists()


def test_every_page_renders_for_a_signed_in_user(client_logged_in, story):
    test_case = factories.make_test_case(story=story)
    for url in _page_urls(story, test_case):
        response = client_logged_in.get(url)
        assert response.status_code == 200, url


def test_login_page_is_styled_and_logs_in(client, user):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b"Log in to QAForge" in page.content
    assert b"pico.min.css" in page.content
    response = client.post(reverse("login"), {"username": user.username, "password": user.raw_password})
    assert response.status_code == 302
    assert response["Location"] == reverse("stories:list")


def test_login_shows_an_error_for_a_wrong_password(client, user):
    response = client.post(reverse("login"), {"username": user.username, "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_logout_is_a_post_form_in_the_user_menu(client_logged_in, user):
    page = client_logged_in.get(reverse("stories:list")).content.decode()
    assert f'action="{reverse("logout")}"' in page
    assert user.username in page
    assert reverse("admin:index") not in page  # not staff
    client_logged_in.post(reverse("logout"))
    assert client_logged_in.get(reverse("stories:list")).status_code == 302


def test_staff_see_the_admin_link(admin_user_logged_in):
    page = admin_user_logged_in.get(reverse("stories:list")).content.decode()
    assert f'href="{reverse("admin:index")}"' in page


def test_layout_loads_assets_and_carries_csrf_for_htmx(client_logged_in):
    page = client_logged_in.get(reverse("stories:list")).content.decode()
    for asset in ["vendor/htmx.min.js", "vendor/sse.js", "vendor/pico.min.css", "app.css", "app.js"]:
        assert f"/static/{asset}" in page
    assert 'hx-headers=\'{"X-CSRFToken": "' in page
    assert '<div id="toasts" aria-live="polite">' in page


def test_static_files_exist_with_pinned_versions():
    from django.contrib.staticfiles import finders

    htmx = open(finders.find("vendor/htmx.min.js"), encoding="utf-8").read()
    assert 'version:"2.0.11"' in htmx
    assert "defineExtension('sse'" in open(finders.find("vendor/sse.js"), encoding="utf-8").read()
    assert "Pico CSS" in open(finders.find("vendor/pico.min.css"), encoding="utf-8").read()


# --- Stories list ---------------------------------------------------------------------------------------------


def test_stories_table_shows_key_title_project_and_test_case_count(client_logged_in, story):
    factories.make_test_case(story=story)
    factories.make_test_case(story=story)
    other = factories.make_story(project=None, key="LOOSE-1", title="Story without a project")
    page = client_logged_in.get(reverse("stories:list")).content.decode()
    assert f'href="{reverse("stories:detail", args=[story.key])}"' in page
    assert story.title in page
    assert f'<tr id="story-{story.pk}" class="story-row">' in page
    assert ">2 test cases</span>" in page  # the live badge carries the count: nothing goes stale beside it
    assert other.title in page
    # grouped by project, the stories without one last
    assert (
        page.index("SHOP</a> <span")
        < page.index(story.title)
        < page.index("Not linked to a project")
        < page.index(other.title)
    )
    assert f'id="story-{story.pk}-badge"' in page  # the status cell renders the generation badge partial
    assert f'href="{reverse("stories:edit_story", args=[story.key])}"' in page


def test_story_text_is_escaped(client_logged_in, project):
    story = factories.make_story(project=project, title="<script>alert(1)</script>", description="<b>bold</b>")
    factories.make_test_case(story=story, title="<img src=x onerror=alert(2)>")
    for url in [reverse("stories:list"), story.get_absolute_url()]:
        page = client_logged_in.get(url).content.decode()
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    detail = client_logged_in.get(story.get_absolute_url()).content.decode()
    assert "<b>bold</b>" not in detail
    assert "<img src=x" not in detail


def test_stories_table_lists_keys_in_natural_order_and_finds_a_story_by_lower_case_key(client_logged_in, project):
    for key in ["SHOP-10", "SHOP-2", "SHOP-1"]:
        factories.make_story(project=project, key=key, title=f"Title of {key}")
    page = client_logged_in.get(reverse("stories:list")).content.decode()
    assert page.index("Title of SHOP-1<") < page.index("Title of SHOP-2<") < page.index("Title of SHOP-10<")
    assert client_logged_in.get("/stories/shop-10/").status_code == 200


def test_search_by_key_or_title(client_logged_in, project):
    factories.make_story(project=project, key="SHOP-1", title="Pay with a card")
    factories.make_story(project=project, key="SHOP-2", title="Track a parcel")
    page = client_logged_in.get(reverse("stories:list"), {"q": "parcel"}).content.decode()
    assert "Track a parcel" in page and "Pay with a card" not in page
    page = client_logged_in.get(reverse("stories:list"), {"q": "shop-1"}).content.decode()
    assert "Pay with a card" in page and "Track a parcel" not in page


def test_filter_by_project_and_by_test_cases(client_logged_in, user, project):
    other = factories.make_project(key="BANK", name="Bank")
    permissions.grant(user, other, Role.VIEWER)
    tested = factories.make_story(project=project, title="Tested story")
    factories.make_test_case(story=tested)
    factories.make_story(project=project, title="Untested story")
    factories.make_story(project=other, title="Bank story")

    def titles(**params):
        page = client_logged_in.get(reverse("stories:list"), params).content.decode()
        return {t for t in ["Tested story", "Untested story", "Bank story"] if t in page}

    assert titles(project="BANK") == {"Bank story"}
    assert titles(project="SHOP") == {"Tested story", "Untested story"}
    assert titles(status="tested") == {"Tested story"}
    assert titles(status="untested") == {"Untested story", "Bank story"}
    assert titles(project="SHOP", status="untested") == {"Untested story"}


def test_one_project_control_the_filter_marks_the_chosen_one(client_logged_in, user, project):
    permissions.grant(user, factories.make_project(key="BANK", name="Bank"), Role.VIEWER)
    factories.make_project(key="SECRET", name="Not a member")
    page = client_logged_in.get(reverse("stories:list"), {"project": "SHOP"}).content.decode()
    assert page.count('name="project"') == 1  # no second switcher in the header
    assert '<option value="SHOP" selected>SHOP</option>' in page
    assert '<option value="BANK">BANK</option>' in page
    assert "SECRET" not in page


def test_htmx_search_answers_with_the_results_fragment(client_logged_in, project):
    factories.make_story(project=project, title="Pay with a card")
    factories.make_story(project=project, title="Track a parcel")
    response = client_logged_in.get(reverse("stories:list"), {"q": "card"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.strip().startswith('<div id="story-results"')
    assert "Pay with a card" in html and "Track a parcel" not in html
    assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_whole_page(client_logged_in, story):
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    response = client_logged_in.get(reverse("stories:list"), headers=headers)
    assert "<html" in response.content.decode()


def test_search_box_is_wired_for_search_as_you_type_and_works_without_js(client_logged_in, story):
    page = client_logged_in.get(reverse("stories:list")).content.decode()
    assert 'hx-trigger="input changed delay:300ms, search"' in page
    assert f'<form method="get" action="{reverse("stories:list")}" class="story-filters"' in page


def test_pagination_is_50_rows_and_keeps_the_filters(client_logged_in, project):
    for n in range(60):
        factories.make_story(project=project, key=f"SHOP-{n:03}", title=f"Paged story {n:03}")
    page = client_logged_in.get(reverse("stories:list"), {"q": "Paged"}).content.decode()
    assert page.count('class="row-select"') == 50
    assert "Page 1 of 2" in page
    assert 'href="?q=Paged&amp;page=2"' in page
    second = client_logged_in.get(reverse("stories:list"), {"q": "Paged", "page": "2"}).content.decode()
    assert second.count('class="row-select"') == 10
    assert "Paged story 059" in second
    assert 'href="?q=Paged&amp;page=1"' in second
    # Out-of-range pages fall back to the last page instead of failing.
    assert client_logged_in.get(reverse("stories:list"), {"page": "99"}).status_code == 200


def test_empty_state_tells_a_new_user_what_to_do(client_logged_in):
    page = client_logged_in.get(reverse("stories:list")).content.decode()
    assert "No stories yet." in page
    assert "python manage.py import_stories docs/samples/stories.csv" in page
    assert "python manage.py demo" in page
    # Not on any project yet: nothing to create stories in, so no link to a form that would refuse them.
    assert f'href="{reverse("stories:create_story")}"' not in page
    assert "ask a project owner to add you" in page


def test_empty_state_offers_an_editor_to_create_a_story(client_logged_in, project):
    page = client_logged_in.get(reverse("stories:list")).content.decode()
    assert "No stories yet." in page
    assert f'href="{reverse("stories:create_story")}"' in page


def test_empty_filter_result_offers_to_clear_the_filters(client_logged_in, story):
    page = client_logged_in.get(reverse("stories:list"), {"q": "nothing-like-this"}).content.decode()
    assert "No stories match these filters." in page
    assert "Clear filters" in page
    assert "No stories yet." not in page


@pytest.mark.parametrize("stories", [10, 200])
def test_stories_page_runs_a_fixed_number_of_queries(client_logged_in, user, django_assert_max_num_queries, stories):
    projects = [factories.make_project(key=f"Q{n}") for n in range(3)]
    for project in projects:
        permissions.grant(user, project, Role.VIEWER)
    UserStory.objects.bulk_create(
        UserStory(project=projects[n % 3], key=f"Q-{n}", title=f"Story {n}") for n in range(stories)
    )
    for story in UserStory.objects.all()[:20]:
        factories.make_test_case(story=story)
    # session + user + the user's roles + count + page + projects for the filter + the latest job of each row
    # + the labels in use (the label filter's choices) + the criteria coverage of the filtered stories
    # + the review queue (how many wait, the first)
    with django_assert_max_num_queries(11):
        response = client_logged_in.get(reverse("stories:list"))
    assert response.status_code == 200
    assert response.content.decode().count('class="story-row') == min(stories, 50)
    with django_assert_max_num_queries(11):
        client_logged_in.get(reverse("stories:list"), {"q": "Story", "status": "tested", "project": "Q1"})


# --- Story detail ---------------------------------------------------------------------------------------------


def test_story_detail_shows_everything_about_the_story(client_logged_in, project):
    story = factories.make_story(
        project=project,
        key="SHOP-7",
        title="Checkout as a guest",
        description="As a visitor I want to check out without an account so that I buy faster.",
        acceptance_criteria=["Guest can enter an email", "Order confirmation is emailed"],
        labels=["checkout", "guest"],
        priority="high",
        status="in_progress",
        external_url="https://jira.example.com/browse/SHOP-7",
    )
    test_case = factories.make_test_case(story=story, title="Guest checkout happy path", scenarios=2)
    page = client_logged_in.get(story.get_absolute_url()).content.decode()
    assert "As a visitor I want to check out" in page
    assert '<li class="criterion uncovered" id="ac-1">' in page
    assert '<span class="criterion-text">Guest can enter an email</span>' in page
    assert '<span class="criterion-text">Order confirmation is emailed</span>' in page
    assert "0 of 2 covered by saved scenarios" in page
    assert '<span class="label">checkout</span>' in page
    assert "High" in page and "In progress" in page
    assert 'href="https://jira.example.com/browse/SHOP-7"' in page
    assert f'id="test-case-{test_case.pk}"' in page
    assert "Guest checkout happy path" in page
    assert '<b class="kw">Given</b> a signed-in shopper' in page
    assert '<b class="kw">Then</b> the cart shows 1 item' in page
    assert page.count('<pre class="gherkin">') == 2
    assert f'href="{reverse("stories:download_feature", args=[test_case.pk])}"' in page
    assert "<dt>Type</dt>" not in page and "(tracker:" not in page


def test_story_detail_shows_the_trackers_type_and_status_when_imported(client_logged_in, project):
    story = factories.make_story(
        project=project, issue_type="Bug", status="todo", tracker_status="Waiting for customer"
    )
    page = client_logged_in.get(story.get_absolute_url()).content.decode()
    assert "<dt>Type</dt><dd>Bug</dd>" in page
    assert 'To do <span class="muted">(tracker: Waiting for customer)</span>' in page


def test_story_detail_runs_few_queries(client_logged_in, story, django_assert_max_num_queries):
    for _ in range(5):
        factories.make_test_case(story=story, scenarios=3)
    with django_assert_max_num_queries(8):  # 7 + the user's roles
        client_logged_in.get(story.get_absolute_url())


def test_unknown_story_is_404(client_logged_in, db):
    assert client_logged_in.get(reverse("stories:detail", args=["NOPE-1"])).status_code == 404


def test_download_feature_returns_a_parsable_feature_file(client_logged_in, story):
    from gherkin.parser import Parser

    test_case = factories.make_test_case(story=story, title="Add to cart", scenarios=2)
    response = client_logged_in.get(reverse("stories:download_feature", args=[test_case.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="shop-12-add-to-cart.feature"'
    text = response.content.decode()
    assert text == test_case.feature_text()
    document = Parser().parse(text)
    assert document["feature"]["name"] == "Add to cart"
    assert len(document["feature"]["children"]) == 2


def test_projects_are_listed_without_queries_for_anonymous_users(client, db):
    Project.objects.create(key="SHOP", name="Web shop")
    page = client.get(reverse("login")).content.decode()
    assert "Web shop" not in page


# --- Filters and sorting ----------------------------------------------------------------------------------------


def listed_keys(client, **params) -> list[str]:
    """The story keys of the table, in the order shown."""
    page = client.get(reverse("stories:list"), params).content.decode()
    return re.findall(r'<td class="col-key"><a href="[^"]+">([^<]+)</a>', page)


def test_status_filter_follows_each_storys_latest_job(client_logged_in, project):
    from generation.models import GenerationJob, JobStatus

    stories = {key: factories.make_story(project=project, key=key) for key in ["S-1", "S-2", "S-3", "S-4", "S-5"]}
    GenerationJob.objects.create(story=stories["S-1"], status=JobStatus.FAILED)
    GenerationJob.objects.create(story=stories["S-1"], status=JobStatus.READY)  # the latest one counts
    GenerationJob.objects.create(story=stories["S-2"], status=JobStatus.RUNNING)
    GenerationJob.objects.create(story=stories["S-3"], status=JobStatus.QUEUED)
    GenerationJob.objects.create(story=stories["S-4"], status=JobStatus.FAILED)
    factories.make_test_case(stories["S-5"])
    client = client_logged_in
    assert listed_keys(client, status="ready") == ["S-1"]
    assert listed_keys(client, status="generating") == ["S-2", "S-3"]
    assert listed_keys(client, status="failed") == ["S-4"]
    assert listed_keys(client, status="tested") == ["S-5"]
    assert listed_keys(client, status="untested") == ["S-1", "S-2", "S-3", "S-4"]
    assert listed_keys(client, has_tests="yes") == ["S-5"]  # the old parameter still works
    assert len(listed_keys(client, status="no-such-status")) == 5  # an unknown value is ignored, not an error


def test_priority_and_label_filters(client_logged_in, project):
    factories.make_story(project=project, key="S-1", priority="high", labels=["smoke", "checkout"])
    factories.make_story(project=project, key="S-2", priority="low", labels=["smoke-test"])
    factories.make_story(project=project, key="S-3", priority="high", labels=[])
    client = client_logged_in
    assert listed_keys(client, priority="high") == ["S-1", "S-3"]
    assert listed_keys(client, label="smoke") == ["S-1"]  # a whole label, not a part of one
    assert listed_keys(client, label="smoke-test") == ["S-2"]
    assert listed_keys(client, label="smoke", priority="low") == []
    page = client.get(reverse("stories:list")).content.decode()
    assert '<option value="checkout">checkout</option>' in page  # the labels in use are the choices


def test_sorting_by_key_title_priority_and_updated(client_logged_in, project):
    factories.make_story(project=project, key="S-10", title="banana", priority="low")
    factories.make_story(project=project, key="S-2", title="Apple", priority="highest")
    factories.make_story(project=project, key="S-9", title="cherry", priority="medium")
    client = client_logged_in
    assert listed_keys(client) == ["S-2", "S-9", "S-10"]  # natural key order
    assert listed_keys(client, sort="-key") == ["S-10", "S-9", "S-2"]
    assert listed_keys(client, sort="title") == ["S-2", "S-10", "S-9"]  # case-insensitive
    assert listed_keys(client, sort="priority") == ["S-2", "S-9", "S-10"]  # highest first
    assert listed_keys(client, sort="-priority") == ["S-10", "S-9", "S-2"]
    UserStory.objects.filter(key="S-10").update(updated_at=timezone.now() + timedelta(minutes=1))
    assert listed_keys(client, sort="updated")[0] == "S-10"


def test_sort_headers_link_to_the_same_filters_and_reverse_on_a_second_click(client_logged_in, project):
    factories.make_story(project=project, key="S-1")
    page = client_logged_in.get(reverse("stories:list"), {"q": "S", "sort": "title", "page": "1"}).content.decode()
    assert 'class="col-title" aria-sort="ascending"' in page
    assert 'href="?q=S&amp;sort=-title"' in page  # a second click reverses; the page number is dropped
    assert 'href="?q=S&amp;sort=priority"' in page
    assert '<option value="title" selected>Sort: title A→Z</option>' in page  # the sort control agrees
