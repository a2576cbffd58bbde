"""The API's permission questions, answered by the project's one permission module.

Until per-project permissions land (stories.permissions), every signed-in, active user may see and change
everything, as on the pages; each endpoint asks here exactly once so the switch is one import.
"""

from __future__ import annotations

from django.http import Http404


def _active(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def visible(queryset, user):
    return queryset if _active(user) else queryset.none()


def editable(queryset, user):
    return visible(queryset, user)


def get_visible_or_404(queryset, user, **lookup):
    obj = visible(queryset, user).filter(**lookup).first()
    if obj is None:
        raise Http404
    return obj


def get_editable_or_403(queryset, user, **lookup):
    return get_visible_or_404(queryset, user, **lookup)


def require_edit(user, obj) -> None:
    return None
