"""Create, edit and delete stories and test cases: HTMX (fragments, inline errors, HX-Redirect, toasts) and plain
posts (redirect + message)."""

import json

from django.contrib.messages import get_messages
from django.urls import reverse

from stories.forms import ScenarioForm, StoryForm
from stories.models import Scenario, TestCase, UserStory
from tests import factories

HTMX = {"HX-Request": "true"}


def _story_data(**overrides) -> dict:
    data = {
        "project": "",
        "key": "SHOP-99",
        "title": "Save a wish list",
        "description": "As a shopper I want to save items so that I buy them later.",
        "acceptance_criteria": "Items can be saved\n\n  The list survives a logout  \n",
        "priority": "high",
        "status": "todo",
        "labels": "wishlist, account, wishlist",
        "external_url": "",
    }
    data.update(overrides)
    return data


def _test_case_data(scenarios: list[dict], initial: int = 0, **overrides) -> dict:
    data = {
        "title": "Save an item",
        "objective": "The wish list keeps items.",
        "preconditions": "A signed-in shopper",
        "test_type": "FUNCTIONAL",
        "priority": "medium",
        "status": "draft",
        "scenarios-TOTAL_FORMS": str(len(scenarios)),
        "scenarios-INITIAL_FORMS": str(initial),
        "scenarios-MIN_NUM_FORMS": "1",
        "scenarios-MAX_NUM_FORMS": "1000",
    }
    for i, scenario in enumerate(scenarios):
        for field, value in scenario.items():
            data[f"scenarios-{i}-{field}"] = value
    data.update(overrides)
    return data


GOOD_STEPS = "Given a shopper on a product page\nWhen they save the item\nThen the wish list shows the item"


# --- Stories --------------------------------------------------------------------------------------------------


def test_story_form_turns_text_into_lists(db):
    form = StoryForm(_story_data(), user=factories.make_user(is_superuser=True))
    assert form.is_valid(), form.errors
    story = form.save()
    assert story.acceptance_criteria == ["Items can be saved", "The list survives a logout"]
    assert story.labels == ["wishlist", "account"]
    edit = StoryForm(instance=story, user=factories.make_user(is_superuser=True))
    assert "Items can be saved\n\nThe list survives a logout" in str(edit["acceptance_criteria"])
    assert 'value="wishlist, account"' in str(edit["labels"])


GWT_CRITERIA = [
    "Given a shopper with two items in the cart\nWhen they open the cart\nThen both items are listed",
    "The total includes VAT",
    "Given an empty cart\nWhen the shopper opens it\nThen it says the cart is empty\nAnd it offers the catalogue",
]


def test_saving_a_story_without_touching_multi_line_criteria_keeps_them_exactly(client_logged_in, project):
    story = factories.make_story(project=project, key="SHOP-40", acceptance_criteria=GWT_CRITERIA)
    url = reverse("stories:edit_story", args=[story.key])
    form = client_logged_in.get(url).context["form"]
    # Post back exactly what the page shows (BoundField.value() is the text in each input), changing only the title.
    data = {name: form[name].value() for name in form.fields} | {"title": "Renamed"}
    assert data["acceptance_criteria"] in client_logged_in.get(url).content.decode()
    assert client_logged_in.post(url, data).status_code == 302
    story.refresh_from_db()
    assert story.title == "Renamed"
    assert story.acceptance_criteria == GWT_CRITERIA
    assert not StoryForm(data, instance=story, user=factories.make_user(is_superuser=True)).has_changed()


def test_a_new_story_takes_multi_line_criteria_a_blank_line_apart(db):
    typed = "Given a cart\r\nWhen I pay  \r\nThen I get a receipt\r\n\r\n\r\n   \r\nThe receipt is emailed\r\n"
    form = StoryForm(_story_data(acceptance_criteria=typed), user=factories.make_user(is_superuser=True))
    assert form.is_valid(), form.errors
    assert form.save().acceptance_criteria == [
        "Given a cart\nWhen I pay\nThen I get a receipt",
        "The receipt is emailed",
    ]


def test_story_keys_that_would_shadow_pages_are_refused(db):
    form = StoryForm(_story_data(key="new"), user=factories.make_user(is_superuser=True))
    assert not form.is_valid()
    assert "reserved" in form.errors["key"][0]


def test_story_form_upper_cases_the_key_and_refuses_a_case_variant_of_an_existing_one(client_logged_in, story):
    response = client_logged_in.post(reverse("stories:create_story"), _story_data(key="shop-13"))
    assert response.status_code == 302
    assert UserStory.objects.filter(key="SHOP-13").exists()
    again = client_logged_in.post(reverse("stories:create_story"), _story_data(key="Shop-12"), headers=HTMX)
    assert "User story with this Key already exists." in again.content.decode()
    assert sorted(UserStory.objects.values_list("key", flat=True)) == ["SHOP-12", "SHOP-13"]


WARNING = "WEB-4 does not start with SHOP-, the project&#x27;s key"


def test_the_form_warns_beside_the_key_while_it_is_typed_when_its_prefix_is_not_the_projects(client_logged_in, project):
    url = reverse("stories:create_story")
    # As the key (or the project) changes, the page asks for the warning alone; nothing is saved.
    check = {**_story_data(key="web-4", project=project.pk, title=""), "check": "key"}
    answer = client_logged_in.post(url, check, headers=HTMX)
    assert answer.status_code == 200
    fragment = answer.content.decode()
    assert WARNING in fragment and "fine for a story moved from another project" in fragment
    assert "<form" not in fragment and "This field is required" not in fragment  # the warning only, not the form
    assert not UserStory.objects.exists()
    assert client_logged_in.post(url, {**check, "key": "shop-4"}, headers=HTMX).content.decode().strip() == ""
    assert client_logged_in.post(url, {**check, "project": ""}, headers=HTMX).content.decode().strip() == ""

    # The warning never blocks the save, and the page that showed it inline does not repeat it in a toast.
    saved = client_logged_in.post(url, _story_data(key="web-4", project=project.pk), headers=HTMX)
    assert saved.headers["HX-Redirect"] == reverse("stories:detail", args=["WEB-4"])
    assert UserStory.objects.get(key="WEB-4").project == project
    assert [str(m) for m in get_messages(saved.wsgi_request)] == ["Story WEB-4 created."]


def test_editing_a_story_whose_prefix_is_not_the_projects_shows_the_warning_on_the_key(client_logged_in, project):
    factories.make_story(project=project, key="WEB-4")
    page = client_logged_in.get(reverse("stories:edit_story", args=["WEB-4"])).content.decode()
    warning = page[page.index('id="key-warning"') :]
    assert WARNING in warning[: warning.index("</div>")]
    assert 'aria-describedby="key-warning"' in page
    matching = factories.make_story(project=project, key="SHOP-5")
    page = client_logged_in.get(reverse("stories:edit_story", args=[matching.key])).content.decode()
    assert "does not start with" not in page


def test_without_javascript_the_key_prefix_warning_comes_with_the_saved_message(client_logged_in, project):
    response = client_logged_in.post(reverse("stories:create_story"), _story_data(key="web-4", project=project.pk))
    assert UserStory.objects.get(key="WEB-4").project == project
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Story WEB-4 created.",
        "WEB-4 does not start with SHOP-, the project's key: fine for a story moved from another project, otherwise "
        "check for a typo. It is saved as typed.",
    ]
    client_logged_in.get(reverse("stories:list"))  # shows (and so consumes) those messages
    matching = client_logged_in.post(reverse("stories:create_story"), _story_data(key="shop-5", project=project.pk))
    assert [str(m) for m in get_messages(matching.wsgi_request)] == ["Story SHOP-5 created."]


def test_plain_post_creates_a_story_and_redirects_with_a_message(client_logged_in, project):
    response = client_logged_in.post(reverse("stories:create_story"), _story_data(project=project.pk))
    story = UserStory.objects.get(key="SHOP-99")
    assert response.status_code == 302
    assert response["Location"] == story.get_absolute_url()
    assert story.project == project
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Story SHOP-99 created."]
    # The message is shown as a toast on the next page.
    page = client_logged_in.get(story.get_absolute_url()).content.decode()
    assert '<div class="toast toast-success" role="status">' in page
    assert "Story SHOP-99 created." in page


def test_htmx_post_creates_a_story_and_answers_with_hx_redirect(client_logged_in, project):
    response = client_logged_in.post(reverse("stories:create_story"), _story_data(), headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("stories:detail", args=["SHOP-99"])
    assert UserStory.objects.filter(key="SHOP-99").exists()


def test_htmx_invalid_story_re_renders_the_form_fragment_with_inline_errors(client_logged_in, story):
    data = _story_data(key=story.key, title="", external_url="not a url")
    response = client_logged_in.post(reverse("stories:create_story"), data, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.strip().startswith('<form id="story-form"')
    assert '<small class="field-error" id="id_title_error"><span>This field is required.</span></small>' in html
    assert "User story with this Key already exists." in html
    assert "Enter a valid URL." in html
    assert 'aria-invalid="true"' in html
    assert UserStory.objects.count() == 1


def test_plain_invalid_story_shows_the_whole_page_with_errors(client_logged_in, project):
    response = client_logged_in.post(reverse("stories:create_story"), _story_data(key="bad key!"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert "Use letters, digits" in html


def test_new_story_preselects_the_project_being_browsed(client_logged_in, project):
    page = client_logged_in.get(reverse("stories:create_story"), {"project": "SHOP"}).content.decode()
    assert f'<option value="{project.pk}" selected>' in page


def test_edit_story(client_logged_in, story):
    url = reverse("stories:edit_story", args=[story.key])
    page = client_logged_in.get(url).content.decode()
    assert f'value="{story.title}"' in page
    response = client_logged_in.post(url, _story_data(key=story.key, title="Renamed", project=story.project.pk))
    assert response.status_code == 302
    story.refresh_from_db()
    assert story.title == "Renamed"
    assert story.acceptance_criteria == ["Items can be saved", "The list survives a logout"]


def test_delete_story_without_js_asks_first(client_logged_in, story):
    factories.make_test_case(story=story)
    url = reverse("stories:delete_story", args=[story.key])
    page = client_logged_in.get(url).content.decode()
    assert "will be deleted" in page and "1 test case " in page
    assert UserStory.objects.filter(pk=story.pk).exists()
    response = client_logged_in.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("stories:list")
    assert not UserStory.objects.filter(pk=story.pk).exists()
    assert not TestCase.objects.exists()


def test_delete_story_with_htmx_confirms_in_the_browser_and_redirects(client_logged_in, story):
    detail = client_logged_in.get(story.get_absolute_url()).content.decode()
    assert 'hx-confirm="Delete story SHOP-12 and its 0 test cases?"' in detail
    response = client_logged_in.post(reverse("stories:delete_story", args=[story.key]), headers=HTMX)
    assert response["HX-Redirect"] == reverse("stories:list")
    assert not UserStory.objects.exists()


def test_delete_story_only_by_post(client_logged_in, story):
    assert client_logged_in.put(reverse("stories:delete_story", args=[story.key])).status_code == 405


# --- Test cases -----------------------------------------------------------------------------------------------


def test_create_test_case_with_scenarios_in_order(client_logged_in, story, user):
    data = _test_case_data(
        [
            {"name": "Save one item", "steps": GOOD_STEPS, "tags": "smoke, @wishlist"},
            {"name": "", "steps": "", "tags": ""},  # a blank extra form is ignored
            {"name": "Save twice", "steps": GOOD_STEPS.replace("the item", "it twice"), "tags": ""},
        ]
    )
    response = client_logged_in.post(reverse("stories:create_test_case", args=[story.key]), data)
    test_case = TestCase.objects.get()
    assert response.status_code == 302
    assert response["Location"] == test_case.get_absolute_url()
    assert test_case.author == user
    assert test_case.story == story
    scenarios = list(test_case.scenarios.order_by("position"))
    assert [(s.name, s.position) for s in scenarios] == [("Save one item", 0), ("Save twice", 1)]
    assert scenarios[0].tags == ["@smoke", "@wishlist"]
    assert "Scenario: Save twice" in test_case.feature_text()


def test_htmx_gherkin_problems_are_shown_next_to_the_steps(client_logged_in, story):
    data = _test_case_data(
        [
            {"name": "No outcome", "steps": "Given a shopper\nWhen they save the item", "tags": ""},
            {"name": "Not gherkin", "steps": "Given a shopper\nthe shopper clicks save\nThen saved", "tags": ""},
        ]
    )
    response = client_logged_in.post(reverse("stories:create_test_case", args=[story.key]), data, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.strip().startswith('<form id="test-case-form"')
    assert '<small class="field-error" id="id_scenarios-0-steps_error">' in html
    assert "needs a &#x27;Then&#x27; step" in html
    assert '<small class="field-error" id="id_scenarios-1-steps_error">' in html
    assert "is not a Gherkin step" in html
    assert not TestCase.objects.exists()


def test_a_test_case_needs_a_scenario(client_logged_in, story):
    data = _test_case_data([{"name": "", "steps": "", "tags": ""}])
    response = client_logged_in.post(reverse("stories:create_test_case", args=[story.key]), data, headers=HTMX)
    assert "A test case needs at least one scenario." in response.content.decode()
    assert not TestCase.objects.exists()


def test_errors_in_the_test_case_and_its_scenarios_show_together(client_logged_in, story):
    data = _test_case_data([{"name": "", "steps": GOOD_STEPS, "tags": ""}], title="")
    html = client_logged_in.post(reverse("stories:create_test_case", args=[story.key]), data, headers=HTMX).content
    html = html.decode()
    assert 'id="id_title_error"' in html
    assert 'id="id_scenarios-0-name_error"' in html


def test_edit_test_case_reorders_edits_adds_and_deletes_scenarios(client_logged_in, story):
    test_case = factories.make_test_case(story=story, scenarios=3)
    first, second, third = test_case.scenarios.order_by("position")
    data = _test_case_data(
        [
            {"id": first.pk, "test_case": test_case.pk, "name": "First, renamed", "steps": first.steps},
            {"id": second.pk, "test_case": test_case.pk, "name": second.name, "steps": second.steps, "DELETE": "on"},
            {"id": third.pk, "test_case": test_case.pk, "name": third.name, "steps": third.steps},
            {"test_case": test_case.pk, "name": "Brand new", "steps": GOOD_STEPS, "tags": "@new"},
        ],
        initial=3,
        title="Edited",
        status="ready",
    )
    response = client_logged_in.post(reverse("stories:edit_test_case", args=[test_case.pk]), data, headers=HTMX)
    assert response["HX-Redirect"] == test_case.get_absolute_url()
    test_case.refresh_from_db()
    assert (test_case.title, test_case.status) == ("Edited", "ready")
    names = list(test_case.scenarios.order_by("position").values_list("name", "position"))
    assert names == [("First, renamed", 0), (third.name, 1), ("Brand new", 2)]
    assert not Scenario.objects.filter(pk=second.pk).exists()


def test_edit_page_offers_a_blank_scenario_and_a_template_for_more(client_logged_in, story):
    test_case = factories.make_test_case(story=story, scenarios=2)
    page = client_logged_in.get(reverse("stories:edit_test_case", args=[test_case.pk])).content.decode()
    assert 'name="scenarios-TOTAL_FORMS" value="3"' in page
    assert '<template data-formset-template="scenarios">' in page
    assert 'name="scenarios-__prefix__-steps"' in page
    new_page = client_logged_in.get(reverse("stories:create_test_case", args=[story.key])).content.decode()
    assert 'name="scenarios-TOTAL_FORMS" value="1"' in new_page


def test_htmx_delete_test_case_removes_it_in_place_with_a_toast(client_logged_in, story):
    test_case = factories.make_test_case(story=story, title="Old case")
    factories.make_test_case(story=story, title="Kept case")
    response = client_logged_in.post(reverse("stories:delete_test_case", args=[test_case.pk]), headers=HTMX)
    assert response.status_code == 200
    # Nothing replaces the article; the heading's count is updated out of band.
    assert response.content.decode() == '<small class="muted" id="test-case-count" hx-swap-oob="true">(1)</small>'
    toast = json.loads(response["HX-Trigger"])["toast"]
    assert (toast["level"], toast["message"]) == ("success", "Test case “Old case” deleted.")
    assert list(TestCase.objects.values_list("title", flat=True)) == ["Kept case"]


def test_plain_delete_test_case_confirms_then_redirects_to_the_story(client_logged_in, story):
    test_case = factories.make_test_case(story=story, title="Old case")
    url = reverse("stories:delete_test_case", args=[test_case.pk])
    assert "Old case" in client_logged_in.get(url).content.decode()
    response = client_logged_in.post(url)
    assert response["Location"] == story.get_absolute_url()
    assert not TestCase.objects.exists()


def test_scenario_form_tags_accept_commas_or_spaces(db):
    form = ScenarioForm({"name": "A", "steps": GOOD_STEPS, "tags": "smoke,  @cart ui"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["tags"] == ["@smoke", "@cart", "@ui"]


def test_toast_trigger_merges_with_other_events():
    from django.http import HttpResponse

    from stories.toasts import toast_trigger

    response = HttpResponse()
    response["HX-Trigger"] = json.dumps({"closeDialog": {}})
    toast_trigger(response, "Saved <b>", level="info", link="/stories/")
    triggers = json.loads(response["HX-Trigger"])
    html = triggers["toast"].pop("html")
    assert triggers == {"closeDialog": {}, "toast": {"level": "info", "message": "Saved <b>", "link": "/stories/"}}
    # The one toast partial, escaped, with its link.
    assert html.startswith('<div class="toast toast-info" role="status">')
    assert "Saved &lt;b&gt;" in html and 'href="/stories/"' in html
