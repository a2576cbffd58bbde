"""JSON API for generation jobs."""

from django.urls import path

from generation import api

app_name = "api"
urlpatterns = [
    path("stories/<str:key>/generate", api.generate, name="generate"),
    path("jobs/<str:job_id>", api.job_status, name="job_status"),
]
