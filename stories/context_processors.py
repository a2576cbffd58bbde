from stories.models import Project


def navigation(request):
    """Projects for the header's project switcher (only for signed-in users; one small query, run only if a
    template iterates `nav_projects`) and the project currently chosen (?project=KEY)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "nav_projects": Project.objects.only("key", "name"),
        "nav_project_key": request.GET.get("project", ""),
    }
