"""The QAForge API (django-ninja): typed schemas, a generated OpenAPI document, token or session auth, JSON errors.

Mounted at /api/ by `qaforge/urls.py`: `/api/openapi.json` (the schema), `/api/docs` (interactive docs, login
required). The per-job event stream (`/api/jobs/<id>/events`) is served beside Django by `qaforge/asgi.py`
(see `generation.events`); it is added to this document by `QAForgeAPI.get_openapi_schema`.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseNotAllowed
from django.urls import path
from django.views.decorators.http import require_GET
from ninja import NinjaAPI

from api import errors
from api.auth import token_or_session
from api.parser import JsonOrFormParser
from api.routes import hooks, imports, jobs, stories, testcases

DESCRIPTION = """
Everything a script, a CI pipeline or a tracker needs: push stories, start generation, follow it live, save the
result and download it.

**Authentication.** Create a personal API token on your account's *API tokens* page (or
`python manage.py api_token USERNAME`) and send it as `Authorization: Bearer <token>`; token requests need no CSRF
token. Requests from a signed-in browser session work too and must send the CSRF token (`X-CSRFToken`).

**Errors** are JSON: `{"code": "...", "error": "..."}` — `code` is stable, `error` is for a person.
"""


EVENTS_DESCRIPTION = """Server-Sent Events (`text/event-stream`) of typed JSON events, in order, each with an `id:`:
`job_queued`, `job_started`, `batch_completed` (`batch` of `batches`, `scenarios` so far, `progress`), then one of
`job_ready` (with `summary`: test cases, scenarios, dropped invalid, duplicates removed, warnings, seconds,
generator, model), `job_failed` (`reason`) or `job_cancelled`, after which the stream closes. Reconnect with the
`Last-Event-ID` header to get only what was missed. Authenticate with a token or the session; an open stream
re-checks them and your access every few seconds and ends, sending nothing more, once the token is revoked or
expires, the session ends, the account is deactivated or the job's project is no longer yours to see."""


def _events_operation(summary: str, parameters: list[dict]) -> dict:
    return {
        "get": {
            "operationId": "job_events_" + ("one" if parameters[0]["in"] == "path" else "many"),
            "summary": summary,
            "description": EVENTS_DESCRIPTION,
            "tags": ["generation"],
            "parameters": [
                *parameters,
                {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {
                    "description": "The event stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                "401": {
                    "description": "Unauthorized",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
                "404": {
                    "description": "Not Found",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
            "security": [{"TokenAuth": []}, {"SessionAuth": []}],
        }
    }


class QAForgeAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        """The generated document, plus the job event streams that `qaforge/asgi.py` serves beside Django."""
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
        ids = {
            "name": "ids",
            "in": "query",
            "required": True,
            "schema": {"type": "string"},
            "description": 'Job ids, comma separated; event ids are then one position per job ("5.3")',
        }
        schema["paths"]["/api/jobs/{job_id}/events"] = _events_operation("Follow a job live", [job_id])
        schema["paths"]["/api/jobs/events"] = _events_operation("Follow several jobs live", [ids])
        return schema


api = QAForgeAPI(
    title="QAForge API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    auth=token_or_session,
    parser=JsonOrFormParser(),
    openapi_url="/openapi.json",
    docs_url="/docs",
)
errors.install(api)
api.add_router("/", stories.router)
api.add_router("/", jobs.router)
api.add_router("/", testcases.router)
api.add_router("/", hooks.router)
api.add_router("/", imports.router)


def _json_errors(view):
    """Ninja answers a wrong method in plain text, and LoginRequiredMiddleware would redirect anonymous callers to
    the login page: API views answer JSON and do their own authentication."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            return errors.error_response(
                405, "method_not_allowed", f"Use {allowed} for this URL.", headers={"Allow": allowed}
            )
        return response

    wrapper.login_required = False
    return wrapper


def not_found(request, rest: str):
    return errors.error_response(404, "not_found", f"There is no API endpoint /api/{rest}.")


not_found.login_required = False
not_found.csrf_exempt = True


def _token_or_session_required(view):
    """The OpenAPI document is for signed-in people and token holders, like every other call."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        for auth in token_or_session:
            try:
                if auth(request):
                    return view(request, *args, **kwargs)
            except errors.ApiError as error:
                return errors.error_response(error.status, error.code, str(error))
        return errors.error_response(401, "not_authenticated", errors.NOT_AUTHENTICATED)

    return wrapper


def urls():
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if pattern.name == "openapi-view":
            # A page: visitors are sent to the login form (after the method check, as every API URL does it).
            pattern.callback = login_required(pattern.callback)
        elif pattern.name == "openapi-json":
            pattern.callback = _token_or_session_required(pattern.callback)
        if pattern.name in ("openapi-view", "openapi-json"):
            pattern.callback = require_GET(pattern.callback)
        pattern.callback = _json_errors(pattern.callback)
    return [*patterns, path("<path:rest>", not_found)], app_name, namespace
