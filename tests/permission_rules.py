"""The permission rule of every URL: the table `tests/test_permission_matrix.py` checks, role by role.

Every URL pattern of the Django URL conf (and every route of the live-updates app, `generation.events.app`) must
have an entry in RULES, or the matrix test fails: a new URL cannot ship without someone deciding who may use it.

How to add a rule
-----------------
Key: the URL's name with its namespace ("stories:detail"); for the live-updates routes and unnamed patterns, the
path as the test builds it ("/events/stories", "/"). Value: {"GET": rule, "POST": rule}, where a rule is

    NOT_ALLOWED                      the method is refused (405; anonymous page requests are sent to log in first)
    Allow(level, status, ...)        who may, and the status they get when they may

`level` says who may (the others get the usual refusal, worked out by `expected_status`):

    "public"  anyone, signed in or not          "login"   any signed-in user
    "create"  an editor of any project (adding content: the target is not one object)
    "view"    who may see the SHOP object       (outsiders get 404)
    "edit"    who may change it                 (outsiders 404, viewers 403)
    "manage"  the project's owners              (outsiders 404, viewers and editors 403)
    "staff"   staff users (superusers here)     (everybody else signed in gets 403)

Anonymous callers get 302 to the login page on pages, 401 from the JSON API (`api:`) and the streams (`/events/`).
`data` is the query string (GET) or form body (POST); `overrides` pins a role's status where the general rule
does not fit — say why in a comment. Path parameters come from URL_KWARGS (add a name there for a new kind of
parameter).

The world each request meets (tests/test_permission_matrix.py builds it afresh for every role): project SHOP with
story SHOP-1, a test case with one scenario and a job ready to review; project BANK. Roles: anonymous; outsider
(viewer of BANK only); viewer, editor and owner of SHOP; a superuser.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("anonymous", "outsider", "viewer", "editor", "owner", "superuser")
LEVELS = ("public", "login", "create", "view", "edit", "manage", "staff")


@dataclass(frozen=True)
class Allow:
    level: str
    status: int
    data: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)

    def __post_init__(self):
        assert self.level in LEVELS, f"unknown level {self.level!r}; use one of {LEVELS}"
        assert set(self.overrides) <= set(ROLES), f"unknown role in {self.overrides}"


NOT_ALLOWED = None

# Path parameters by name: "world" attributes (see the matrix test's World) or plain values.
URL_KWARGS = {
    "key": "story.key",
    "pk": "test_case.pk",
    "job_id": "job.pk",
    "user_id": "viewer.pk",
    "project_key": "SHOP",
    "suggestion_id": "0",  # only PATCH and DELETE use it: GET and POST are refused before it is looked up
    "rest": "no/such/endpoint",
    "secret": "no-such-secret",
    "import_id": "import_job.pk",
}

ONE_STORY = {"stories": "SHOP-1"}

RULES: dict[str, dict[str, Allow | None]] = {
    # --- accounts -------------------------------------------------------------------------------------------------
    "/": {"GET": Allow("login", 302), "POST": Allow("login", 302)},  # to the stories page
    "login": {
        # Signed-in users are sent on to the stories page; an empty POST re-shows the form with its errors.
        "GET": Allow("public", 302, overrides={"anonymous": 200}),
        "POST": Allow("public", 302, overrides={"anonymous": 200}),
    },
    "logout": {"GET": NOT_ALLOWED, "POST": Allow("login", 302)},
    # --- stories and test cases -----------------------------------------------------------------------------------
    "stories:list": {"GET": Allow("login", 200), "POST": NOT_ALLOWED},
    "stories:create_story": {"GET": Allow("create", 200), "POST": Allow("create", 200)},  # empty POST: form errors
    "stories:detail": {"GET": Allow("view", 200), "POST": NOT_ALLOWED},
    "stories:edit_story": {"GET": Allow("edit", 200), "POST": Allow("edit", 200)},
    "stories:delete_story": {"GET": Allow("edit", 200), "POST": Allow("edit", 302)},
    "stories:create_test_case": {"GET": Allow("edit", 200), "POST": Allow("edit", 200)},
    "stories:edit_test_case": {"GET": Allow("edit", 200), "POST": Allow("edit", 200)},
    "stories:delete_test_case": {"GET": Allow("edit", 200), "POST": Allow("edit", 302)},
    "stories:download_feature": {"GET": Allow("view", 200), "POST": NOT_ALLOWED},
    "stories:project": {"GET": Allow("view", 200), "POST": NOT_ALLOWED},
    # --- project members (a project's members read the list; its owners change it) ---------------------------------
    "stories:project_members": {
        "GET": Allow("view", 200),
        "POST": Allow("manage", 302, {"username": "outsider", "role": "viewer"}),
    },
    "stories:remove_member": {"GET": NOT_ALLOWED, "POST": Allow("manage", 302)},
    "stories:story_history": {"GET": Allow("view", 200), "POST": NOT_ALLOWED},
    "stories:test_case_history": {"GET": Allow("view", 200), "POST": NOT_ALLOWED},
    # The world's test case is not deleted: an editor is told so and sent back to its history.
    "stories:restore_test_case": {"GET": NOT_ALLOWED, "POST": Allow("edit", 302)},
    # --- importing (an import job is content of its target project, SHOP here, waiting for confirmation) ---------
    "stories:import_stories": {"GET": Allow("create", 200), "POST": Allow("create", 200)},  # empty POST: form errors
    "stories:import_job": {"GET": Allow("edit", 200), "POST": NOT_ALLOWED},
    "stories:confirm_import": {"GET": NOT_ALLOWED, "POST": Allow("edit", 302)},
    "stories:cancel_import": {"GET": NOT_ALLOWED, "POST": Allow("edit", 302)},
    # Test cases back from a repository: editors (each file's stories are checked as it is read); empty POST: errors.
    "stories:import_tests": {"GET": Allow("create", 200), "POST": Allow("create", 200)},
    # --- exporting --------------------------------------------------------------------------------------------------
    # Exports need view rights. A project or story the user may not see is "not found" in the dialog (200, with the
    # message) and refuses the download (400), as an unknown key would: an outsider learns nothing.
    "stories:export_dialog": {"GET": Allow("view", 200, {"project": "SHOP"}, {"outsider": 200}), "POST": NOT_ALLOWED},
    "stories:export": {
        "GET": Allow("view", 200, {"project": "SHOP", "format": "csv"}, {"outsider": 400}),
        "POST": NOT_ALLOWED,
    },
    # --- generation -----------------------------------------------------------------------------------------------
    # Several stories at once: a story the user may not see is "missing" (listed in the dialog, or refused with a
    # message), as an unknown key would be, so an outsider gets the ordinary answer and learns nothing.
    "generation:generate": {"GET": Allow("edit", 200, ONE_STORY, {"outsider": 200}), "POST": NOT_ALLOWED},
    "generation:queue": {
        "GET": NOT_ALLOWED,
        "POST": Allow("edit", 302, {**ONE_STORY, "test_types": "UI"}, {"outsider": 302}),
    },
    "generation:review_queue": {"GET": Allow("login", 200), "POST": NOT_ALLOWED},
    "generation:review": {"GET": Allow("edit", 200), "POST": NOT_ALLOWED},
    "generation:review_joined": {"GET": Allow("edit", 200, {"start": "0"}), "POST": NOT_ALLOWED},
    # An empty review formset keeps nothing: the job is discarded (what the form did not show waits in a new job).
    "generation:save": {
        "GET": NOT_ALLOWED,
        "POST": Allow("edit", 302, {"case-TOTAL_FORMS": "0", "case-INITIAL_FORMS": "0"}),
    },
    "generation:report": {"GET": Allow("staff", 200), "POST": NOT_ALLOWED},
    "generation:extend": {"GET": NOT_ALLOWED, "POST": Allow("edit", 302, {"criteria": "1"})},
    "generation:discard": {"GET": NOT_ALLOWED, "POST": Allow("edit", 302)},
    "generation:cancel": {"GET": NOT_ALLOWED, "POST": Allow("edit", 302)},
    # --- JSON API (api/): a token or a session; the same answers for both --------------------------------------
    "api:api-root": {"GET": Allow("public", 404), "POST": Allow("public", 404)},  # nothing at /api/ itself
    "/api/<path:rest>": {"GET": Allow("public", 404), "POST": Allow("public", 404)},  # JSON 404, not a login page
    "api:openapi-json": {"GET": Allow("login", 200), "POST": NOT_ALLOWED},
    "api:openapi-view": {"GET": Allow("login", 200, overrides={"anonymous": 302}), "POST": NOT_ALLOWED},  # a page
    "api:list_projects": {"GET": Allow("login", 200), "POST": NOT_ALLOWED},
    # GET lists what the user may see; POST creates a story in SHOP (outsiders do not see SHOP: 404).
    **dict.fromkeys(
        ("api:list_stories", "api:create_story"),
        {
            "GET": Allow("login", 200),
            "POST": Allow("create", 201, {"key": "SHOP-99", "title": "New", "project": "SHOP"}, {"outsider": 404}),
        },
    ),
    **dict.fromkeys(("api:get_story", "api:update_story"), {"GET": Allow("view", 200), "POST": NOT_ALLOWED}),
    "api:generate": {"GET": NOT_ALLOWED, "POST": Allow("edit", 202, {"test_types": "UI"})},
    # Many stories at once: a story the user may see but not change is listed under "refused" (still 202).
    "api:generate_many": {
        "GET": NOT_ALLOWED,
        "POST": Allow("edit", 202, {**ONE_STORY, "test_types": "UI"}, {"viewer": 202}),
    },
    "api:job_status": {"GET": Allow("view", 200), "POST": NOT_ALLOWED},
    "api:cancel": {"GET": NOT_ALLOWED, "POST": Allow("edit", 409)},  # the world's job is ready: past cancelling
    "api:list_suggestions": {"GET": Allow("view", 200), "POST": NOT_ALLOWED},
    **dict.fromkeys(("api:edit_suggestion", "api:delete_suggestion"), {"GET": NOT_ALLOWED, "POST": NOT_ALLOWED}),
    "api:save": {"GET": NOT_ALLOWED, "POST": Allow("edit", 200)},
    "api:discard": {"GET": NOT_ALLOWED, "POST": Allow("edit", 200)},
    "api:story_test_cases": {"GET": Allow("view", 200), "POST": NOT_ALLOWED},
    "api:project_test_cases": {"GET": Allow("view", 200), "POST": NOT_ALLOWED},
    "api:project": {"GET": Allow("view", 200), "POST": NOT_ALLOWED},
    "api:export": {"GET": Allow("login", 200), "POST": NOT_ALLOWED},  # everything the user may see
    # Imports, as on the import page; the world's import waits for confirmation (so both confirm and cancel work).
    "api:start_import": {"GET": NOT_ALLOWED, "POST": Allow("create", 400)},  # no file: the form's error
    "api:get_import": {"GET": Allow("edit", 200), "POST": NOT_ALLOWED},
    "api:confirm_import": {"GET": NOT_ALLOWED, "POST": Allow("edit", 202)},
    "api:cancel_import": {"GET": NOT_ALLOWED, "POST": Allow("edit", 200)},
    # A form body holds no Jira issue: 400 for whoever is signed in (who may write where is in test_jira_hook.py).
    "api:jira_hook": {"GET": NOT_ALLOWED, "POST": Allow("login", 400)},
    # The project's secret is the credential: anyone with a wrong one gets 404.
    "api:jira_hook_by_secret": {"GET": NOT_ALLOWED, "POST": Allow("public", 404)},
    # --- API tokens (account page) --------------------------------------------------------------------------------
    "api_tokens:list": {"GET": Allow("login", 200), "POST": Allow("login", 200)},  # empty POST: form errors
    # Your own tokens only: any other id (here, the world has no token) is 404.
    "api_tokens:revoke": {"GET": NOT_ALLOWED, "POST": Allow("login", 404)},
    # --- live updates (generation.events.app) ---------------------------------------------------------------------
    "/events/stories": {"GET": Allow("view", 200, {"ids": "story.pk"}), "POST": NOT_ALLOWED},
    "/events/_stats": {"GET": Allow("staff", 200), "POST": NOT_ALLOWED},
    # The API's typed job events (same app; a token or the session). The world's job is ready: the stream sends
    # its events and closes.
    "/api/jobs/{job_id}/events": {"GET": Allow("view", 200), "POST": NOT_ALLOWED},
    "/api/jobs/events": {"GET": Allow("view", 200, {"ids": "job.pk"}), "POST": NOT_ALLOWED},
}

# Namespaces the matrix leaves to their own tests, with the reason.
NOT_IN_MATRIX = {
    "admin": "Django's admin: staff only, by Django's model permissions (tests/*/test_admin.py and "
    "test_permission_matrix.test_the_admin_is_for_staff_only)",
}


def expected_status(rule: Allow | None, role: str, kind: str) -> int:
    """The status `role` should get under `rule`; kind is "page", "api" or "sse"."""
    if rule is not None and role in rule.overrides:
        return rule.overrides[role]
    if rule is None and kind in ("sse", "api"):
        return 405  # Starlette and django-ninja refuse the method before any authentication
    if role == "anonymous":
        if rule is not None and rule.level == "public":
            return rule.status
        return {"page": 302, "api": 401, "sse": 401}[kind]
    if rule is None:
        return 405
    allowed = {
        "public": ROLES,
        "login": ROLES[1:],
        "create": ("editor", "owner", "superuser"),
        "view": ("viewer", "editor", "owner", "superuser"),
        "edit": ("editor", "owner", "superuser"),
        "manage": ("owner", "superuser"),
        "staff": ("superuser",),
    }[rule.level]
    if role in allowed:
        return rule.status
    if role == "outsider" and rule.level in ("view", "edit", "manage"):
        return 404
    return 403
