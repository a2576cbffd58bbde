from stories.models import Project


def navigation(request):
    """Projects for the header's project switcher (only for signed-in users; one small query)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"nav_projects": Project.objects.only("key", "name")}
