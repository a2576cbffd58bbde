from stories import permissions


def navigation(request):
    """Projects the user may see, for the stories page's project filter (only for signed-in users; one small query,
    run only if a template iterates `nav_projects`). The filter is the one place to choose a project."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "nav_projects": permissions.visible_projects(request.user).only("key", "name"),
    }
