"""Who may see and change what: the one place QAForge answers permission questions.

Every page, HTMX fragment, form, JSON endpoint, SSE stream, export and management command asks this module;
nothing else decides access (templates only hide buttons the view would refuse anyway).

Rules
-----
- Roles per project (`stories.models.Membership`): **viewer** reads the project's stories, test cases, jobs and
  exports; **editor** also creates/edits/deletes stories and test cases, imports, generates, reviews, saves,
  discards and cancels; **owner** also manages members and the project's settings. Each role includes the ones
  before it.
- **Superusers** see and do everything. **Staff** without a membership get nothing special outside the admin
  (the admin uses Django's own model permissions).
- **Inactive and anonymous** users see nothing.
- **Stories without a project** are visible to every signed-in user and editable by anyone who is an editor (or
  owner) of at least one project: such a story is shared backlog until someone links it to a project, and a
  viewer-only account should not change it.
- A user who may not **see** an object gets 404 (its existence is not revealed); one who may see it but not
  **change** it gets 403. Pages and the API alike.

API (all functions take the user first; `obj` is a Project, UserStory, TestCase, Scenario, GenerationJob,
SuggestedTestCase or Membership — anything in `PROJECT_PATHS` — or `None`, meaning "content without a project")
-----------------------------------------------------------------------------------------------------------------
Questions about one object (booleans):
    can_view(user, obj)          may read it
    can_edit(user, obj)          may change it (editor or owner of its project; see the no-project rule above)
    can_manage(user, project)    may manage the project's members and settings (owner)
    role_in(user, project)       "viewer" | "editor" | "owner" | None (superusers: "owner")

What a user may see or change (QuerySets; combine them with anything else):
    visible_projects(user)       Project rows the user is a member of (all for superusers)
    editable_projects(user)      Projects where the user is editor or owner (all for superusers)
    visible(queryset, user)      any queryset of a model in PROJECT_PATHS, filtered to what the user may see
    editable(queryset, user)     the same, filtered to what the user may change
    stories_visible_to(user)     shortcut: visible(UserStory.objects.all(), user)

Changing members: `grant(user, project, role)`, `revoke(user, project)` (scripts, the `grant`/`revoke` commands)
and `set_role(project, user, role_or_None)` (the members page: never leaves a project without an owner).

In views (raise instead of returning a boolean):
    get_visible_or_404(queryset, user, **lookup)    one object, or Http404 when missing or not visible
    get_editable_or_403(queryset, user, **lookup)   one object, or Http404 (not visible) / PermissionDenied
    require_edit(user, obj) / require_manage(user, project)   PermissionDenied unless allowed

Roles are read once per user object (one query, cached on the instance as `_qaforge_roles`); `forget_roles(user)`
drops that cache after a change of memberships to the same user instance (`grant`/`revoke` do it themselves).

Adding a model: put its path to the project in `PROJECT_PATHS` (e.g. `"story__project"`). Adding a URL: add its
rule to `tests/permission_rules.py` — the permission matrix test fails for a URL without one.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.http import Http404

from stories.models import Membership, Project, Role, UserStory

# The order of the roles: a role may do what every role before it may.
RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}

# "app_label.ModelName" -> lookup path from that model to its Project ("" for Project itself).
PROJECT_PATHS: dict[str, str] = {
    "stories.Project": "",
    "stories.Membership": "project",
    "stories.UserStory": "project",
    "stories.ImportJob": "project",
    "stories.TestCase": "story__project",
    "stories.Scenario": "test_case__story__project",
    "generation.GenerationJob": "story__project",
    "generation.SuggestedTestCase": "job__story__project",
}


# --- Roles --------------------------------------------------------------------------------------------------------


def _active(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def roles(user) -> dict[int, str]:
    """{project id: role} for the user's memberships: one query per user instance, cached on it."""
    if not _active(user):
        return {}
    cached = getattr(user, "_qaforge_roles", None)
    if cached is None:
        cached = dict(Membership.objects.filter(user=user).values_list("project_id", "role"))
        user._qaforge_roles = cached
    return cached


def forget_roles(user) -> None:
    """Drop the roles cached on this user instance (after changing its memberships)."""
    if user is not None and hasattr(user, "_qaforge_roles"):
        del user._qaforge_roles


def role_in(user, project: Project | int | None) -> str | None:
    """The user's role in the project: "viewer", "editor", "owner" or None; superusers count as owners."""
    if not _active(user) or project is None:
        return None
    if user.is_superuser:
        return Role.OWNER
    return roles(user).get(project if isinstance(project, int) else project.pk)


def _has(user, project_id: int | None, role: str) -> bool:
    """May the user act as `role` on content of this project (None = content without a project)?"""
    if not _active(user):
        return False
    if user.is_superuser:
        return True
    if project_id is None:
        if role == Role.VIEWER:
            return True  # shared backlog: every signed-in user reads it
        if role == Role.EDITOR:
            return any(RANK[r] >= RANK[Role.EDITOR] for r in roles(user).values())
        return False  # nobody "manages" content without a project
    held = roles(user).get(project_id)
    return held is not None and RANK[held] >= RANK[role]


def _project_id(obj) -> int | None:
    """The id of the project `obj` belongs to (None for content without a project), walking PROJECT_PATHS."""
    if obj is None:
        return None
    if isinstance(obj, Project):
        return obj.pk
    path = _path_for(type(obj))
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
        if obj is None:
            return None
    return getattr(obj, f"{last}_id")


def _path_for(model) -> str:
    label = model._meta.label
    if label not in PROJECT_PATHS:
        raise TypeError(f"stories.permissions does not know how {label} belongs to a project; add it to PROJECT_PATHS.")
    return PROJECT_PATHS[label]


# --- Questions about one object ------------------------------------------------------------------------------------


def can_view(user, obj: Model | None) -> bool:
    """May the user read this object (None: content without a project)?"""
    if isinstance(obj, Project):
        return role_in(user, obj) is not None
    return _has(user, _project_id(obj), Role.VIEWER)


def can_edit(user, obj: Model | None) -> bool:
    """May the user change this object, or add content to this project (None: content without a project)?"""
    return _has(user, _project_id(obj), Role.EDITOR)


def can_manage(user, project: Project | None) -> bool:
    """May the user manage this project's members and settings (owners and superusers)?"""
    return project is not None and _has(user, project.pk, Role.OWNER)


def require_edit(user, obj: Model | None) -> None:
    """PermissionDenied unless the user may change `obj` (call after making sure they may see it)."""
    if not can_edit(user, obj):
        raise PermissionDenied("You can read this project but not change it: ask one of its owners for editor access.")


def require_manage(user, project: Project) -> None:
    if not can_manage(user, project):
        raise PermissionDenied("Only the project's owners can manage its members and settings.")


# --- What a user may see or change ---------------------------------------------------------------------------------


def _project_ids(user, role: str) -> QuerySet:
    ranks = [r for r, rank in RANK.items() if rank >= RANK[role]]
    return Membership.objects.filter(user=user, role__in=ranks).values("project_id")


def _filter(queryset: QuerySet, user, role: str) -> QuerySet:
    if not _active(user):
        return queryset.none()
    if user.is_superuser:
        return queryset
    path = _path_for(queryset.model)
    if not path:  # Project itself: members only (no "content without a project" here)
        return queryset.filter(pk__in=_project_ids(user, role))
    # A subquery rather than a join through memberships: no duplicate rows, composes with any annotation.
    allowed = Q(**{f"{path}_id__in": _project_ids(user, role)})
    if _has(user, None, role):
        allowed |= Q(**{f"{path}__isnull": True})
    return queryset.filter(allowed)


def visible(queryset: QuerySet, user) -> QuerySet:
    """`queryset` narrowed to the rows the user may see."""
    return _filter(queryset, user, Role.VIEWER)


def editable(queryset: QuerySet, user) -> QuerySet:
    """`queryset` narrowed to the rows the user may change."""
    return _filter(queryset, user, Role.EDITOR)


def visible_projects(user) -> QuerySet[Project]:
    return visible(Project.objects.all(), user)


def editable_projects(user) -> QuerySet[Project]:
    return editable(Project.objects.all(), user)


def stories_visible_to(user) -> QuerySet[UserStory]:
    return visible(UserStory.objects.all(), user)


# --- In views -------------------------------------------------------------------------------------------------------


def get_visible_or_404(queryset, user, **lookup):
    """The one object matching `lookup` that the user may see; Http404 if it is missing or hidden from them.

    `queryset` may be a model class or a QuerySet (use select_related for the path to the project).
    """
    if isinstance(queryset, type) and issubclass(queryset, Model):
        queryset = queryset._default_manager.all()
    try:
        return visible(queryset, user).get(**lookup)
    except queryset.model.DoesNotExist:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from None


def get_editable_or_403(queryset, user, **lookup):
    """The one object matching `lookup` that the user may change: Http404 if they may not see it, PermissionDenied
    if they may see but not change it."""
    obj = get_visible_or_404(queryset, user, **lookup)
    require_edit(user, obj)
    return obj


# --- Changing memberships ------------------------------------------------------------------------------------------


def grant(user, project: Project, role: str) -> Membership:
    """Give `user` this role in `project` (replacing any earlier role)."""
    if role not in RANK:
        raise ValueError(f"Unknown role {role!r}: use one of {', '.join(RANK)}.")
    membership, _ = Membership.objects.update_or_create(user=user, project=project, defaults={"role": role})
    forget_roles(user)
    return membership


class MembershipError(Exception):
    """A change of members that would leave the project without an owner; `str()` says so, for a person."""


def set_role(project: Project, user, role: str | None) -> None:
    """Give `user` `role` in `project`, or take them off it (role None), as an owner does on the members page:
    the last owner can be neither removed nor demoted (MembershipError), so someone can always manage the project."""
    with transaction.atomic():
        owners = list(
            Membership.objects.select_for_update()
            .filter(project=project, role=Role.OWNER)
            .values_list("user_id", flat=True)
        )
        if owners == [user.pk] and role != Role.OWNER:
            raise MembershipError(
                f"{user.get_username()} is the last owner of {project.key}: make someone else an owner first."
            )
        if role is None:
            revoke(user, project)
        else:
            grant(user, project, role)


def revoke(user, project: Project) -> bool:
    """Remove the user from the project; False if they were not a member."""
    deleted, _ = Membership.objects.filter(user=user, project=project).delete()
    forget_roles(user)
    return bool(deleted)
