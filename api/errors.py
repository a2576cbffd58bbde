"""Every API error is JSON: `{"code": "<stable, for programs>", "error": "<for a person>", ...details}`."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from generation import jobs
from generation.options import messages

log = logging.getLogger("qaforge.api")

NOT_AUTHENTICATED = "Log in first, or send an API token: 'Authorization: Bearer <token>'."
# QueueError (and JobStateError) carry an HTTP status; their code follows from it.
QUEUE_CODES = {400: "invalid_request", 404: "not_found", 409: "wrong_state", 503: "queue_unavailable"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **details):
        super().__init__(message)
        self.status, self.code, self.details = status, code, details


def error_response(status: int, code: str, message: str, headers: dict | None = None, **details) -> JsonResponse:
    return JsonResponse({"code": code, "error": message, **details}, status=status, headers=headers)


def install(api) -> None:
    """Register the handlers that turn every failure inside an operation into the JSON error shape."""

    @api.exception_handler(ApiError)
    def api_error(request, exc: ApiError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.code, str(exc), headers=headers, **exc.details)

    @api.exception_handler(AuthenticationError)
    def not_authenticated(request, exc):
        return error_response(401, "not_authenticated", NOT_AUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})

    @api.exception_handler(NinjaValidationError)
    def invalid_input(request, exc: NinjaValidationError):
        problems = messages(exc.errors)
        fields = [
            {"field": ".".join(str(p) for p in e["loc"][1:]) or e["loc"][0], "message": m}
            for e, m in zip(exc.errors, problems, strict=True)
        ]
        return error_response(400, "invalid_input", " ".join(problems), fields=fields)

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return error_response(404, "not_found", str(exc) or "Not found.")

    @api.exception_handler(PermissionDenied)
    def forbidden(request, exc):
        return error_response(403, "forbidden", str(exc) or "You may not do this.")

    @api.exception_handler(HttpError)
    def http_error(request, exc: HttpError):
        if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
            return error_response(400, "invalid_json", "The request body is not valid JSON.")
        return error_response(exc.status_code, "http_error", str(exc))

    @api.exception_handler(jobs.SuggestionErrors)
    def invalid_suggestions(request, exc: jobs.SuggestionErrors):
        details = [
            {"suggestion": sid, "scenario": None if index < 0 else index, "problems": problems}
            for sid, by_index in exc.errors.items()
            for index, problems in by_index.items()
        ]
        return error_response(400, "invalid_suggestions", str(exc), problems=details)

    @api.exception_handler(jobs.QueueError)
    def queue_error(request, exc: jobs.QueueError):
        return error_response(exc.status, QUEUE_CODES.get(exc.status, "invalid_request"), str(exc))

    @api.exception_handler(Exception)
    def server_error(request, exc):
        log.exception("API %s %s failed", request.method, request.path)
        return error_response(500, "server_error", "Something went wrong on our side; the error was logged.")
