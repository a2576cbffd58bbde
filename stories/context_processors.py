from stories.models import Project


def navigation(request):
    """Projects for the stories page's project filter (only for signed-in users; one small query, run only if a
    template iterates `nav_projects`). The filter is the one place to choose a project: the header has none."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "nav_projects": Project.objects.only("key", "name"),
    }
