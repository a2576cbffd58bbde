from django.urls import path

from stories import export_views, history_views, import_views, member_views, views

app_name = "stories"
urlpatterns = [
    path("", views.story_list, name="list"),
    # Fixed paths come before <key>/; stories.forms.story.RESERVED_STORY_KEYS keeps keys from shadowing them.
    path("new/", views.create_story, name="create_story"),
    path("import/", import_views.import_stories, name="import_stories"),
    path("import/tests/", import_views.import_tests, name="import_tests"),
    path("import/<uuid:import_id>/", import_views.import_job, name="import_job"),
    path("import/<uuid:import_id>/confirm/", import_views.confirm_import, name="confirm_import"),
    path("import/<uuid:import_id>/cancel/", import_views.cancel_import, name="cancel_import"),
    path("export/", export_views.export_dialog, name="export_dialog"),
    path("export/download/", export_views.export_download, name="export"),
    path("test-cases/<int:pk>/edit/", views.edit_test_case, name="edit_test_case"),
    path("test-cases/<int:pk>/delete/", views.delete_test_case, name="delete_test_case"),
    path("test-cases/<int:pk>/feature/", views.download_feature, name="download_feature"),
    path("test-cases/<int:pk>/history/", history_views.test_case_history, name="test_case_history"),
    path("test-cases/<int:pk>/restore/", history_views.restore_test_case, name="restore_test_case"),
    path("projects/<str:project_key>/", views.project_detail, name="project"),
    path("projects/<str:project_key>/members/", member_views.project_members, name="project_members"),
    path("projects/<str:project_key>/members/<int:user_id>/remove/", member_views.remove_member, name="remove_member"),
    path("<str:key>/", views.story_detail, name="detail"),
    path("<str:key>/edit/", views.edit_story, name="edit_story"),
    path("<str:key>/delete/", views.delete_story, name="delete_story"),
    path("<str:key>/history/", history_views.story_history, name="story_history"),
    path("<str:key>/test-cases/new/", views.create_test_case, name="create_test_case"),
]
