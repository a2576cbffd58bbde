from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from stories.models import UserStory


@require_GET
def story_list(request):
    return render(request, "stories/list.html", {"stories": UserStory.objects.all()[:50]})


@require_GET
def story_detail(request, key):
    return render(request, "stories/detail.html", {"story": get_object_or_404(UserStory, key=key)})
