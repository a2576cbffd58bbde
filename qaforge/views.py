from django.http import JsonResponse
from django.views.csrf import csrf_failure as html_csrf_failure


def csrf_failure(request, reason=""):
    """API callers get the CSRF refusal as JSON; pages keep Django's explanatory HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": "CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header."}, status=403
        )
    return html_csrf_failure(request, reason)
