"""HTML views of generation (dialogs, review, badges). Owned by the live-UI feature."""

from django.urls import path

app_name = "generation"
urlpatterns: list = []
