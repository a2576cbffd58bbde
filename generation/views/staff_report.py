"""The staff report: what reviewers did with the suggestions of each generator, model and prompt version."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from generation import report as generation_report


@require_GET
def report(request: HttpRequest) -> HttpResponse:
    """Staff: per generator, model and prompt version, what reviewers did with the suggestions."""
    if not request.user.is_staff:
        raise PermissionDenied("The generation report is for staff.")
    return render(request, "generation/report.html", {"rows": generation_report.prompt_report()})
