"""HTML views of generation: the generate dialog, queueing, review, save, discard, cancel."""

from django.urls import path

from generation import views

app_name = "generation"
urlpatterns = [
    path("generate/", views.generate_form, name="generate"),
    path("queue/", views.queue, name="queue"),
    path("review-queue/", views.review_queue_button, name="review_queue"),
    path("jobs/<uuid:job_id>/review", views.review_job, name="review"),
    path("jobs/<uuid:job_id>/review/joined", views.review_joined, name="review_joined"),
    path("jobs/<uuid:job_id>/save", views.save, name="save"),
    path("jobs/<uuid:job_id>/extend", views.extend, name="extend"),
    path("report/", views.report, name="report"),
    path("jobs/<uuid:job_id>/discard", views.discard, name="discard"),
    path("jobs/<uuid:job_id>/cancel", views.cancel, name="cancel"),
]
