"""Account pages of the API: the user's tokens."""

from django.urls import path

from api import views

app_name = "api_tokens"
urlpatterns = [
    path("api-tokens/", views.tokens, name="list"),
    path("api-tokens/<int:pk>/revoke", views.revoke, name="revoke"),
]
