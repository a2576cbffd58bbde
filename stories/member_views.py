"""A project's members: everyone on the project reads the list; its owners add, change and remove members."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from stories import permissions
from stories.forms import MemberForm
from stories.models import Membership, Project


@require_http_methods(["GET", "POST"])
def project_members(request: HttpRequest, project_key: str) -> HttpResponse:
    project = permissions.get_visible_or_404(Project, request.user, key=project_key.upper())
    form = MemberForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        permissions.require_manage(request.user, project)
        if form.is_valid():
            user, role = form.cleaned_data["user"], form.cleaned_data["role"]
            return _set_role(request, project, user, role, f"{user.get_username()} is now {role} of {project.key}.")
    members = Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    context = {
        "project": project,
        "members": members,
        "form": form,
        "can_manage": permissions.can_manage(request.user, project),
        "roles": MemberForm.base_fields["role"].choices,
    }
    return render(request, "stories/members.html", context)


@require_POST
def remove_member(request: HttpRequest, project_key: str, user_id: int) -> HttpResponse:
    project = permissions.get_visible_or_404(Project, request.user, key=project_key.upper())
    permissions.require_manage(request.user, project)
    user = get_object_or_404(get_user_model(), pk=user_id)
    return _set_role(request, project, user, None, f"{user.get_username()} is no longer a member of {project.key}.")


def _set_role(request: HttpRequest, project: Project, user, role: str | None, done: str) -> HttpResponse:
    try:
        permissions.set_role(project, user, role)
    except permissions.MembershipError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    return redirect("stories:project_members", project_key=project.key)
