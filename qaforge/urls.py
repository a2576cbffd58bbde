from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from api.main import urls as api_urls

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="stories:list", permanent=False)),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("stories/", include("stories.urls")),
    path("generation/", include("generation.urls")),
    path("account/", include("api.urls")),
    path("api/", api_urls()),
]
