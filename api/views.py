"""The account's "API tokens" page: make a token (shown once), see when each was last used, revoke."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from api.forms import NewTokenForm
from api.models import ApiToken


@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    form = NewTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        _token, new_token = ApiToken.objects.issue(
            request.user, form.cleaned_data["name"], expires_at=form.expires_at()
        )
        form = NewTokenForm()
    context = {"form": form, "tokens": ApiToken.objects.filter(user=request.user), "new_token": new_token}
    # The new token is rendered in this answer only (never stored, never in a redirect or a message).
    response = render(request, "api/tokens.html", context)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if token.revoke():
        messages.success(request, f"Revoked “{token.name}”: it stops working at once.")
    return redirect("api_tokens:list")
