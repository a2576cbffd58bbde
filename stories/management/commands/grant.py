"""`manage.py grant USERNAME PROJECT_KEY viewer|editor|owner`: give a user a role in a project (stories.permissions)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from stories import permissions
from stories.models import Membership, Project, Role


def user_and_project(username: str, project_key: str):
    """The named user and project, or CommandError naming what is missing (shared with `revoke`)."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"There is no user {username!r}.")
    project = Project.objects.filter(key__iexact=project_key).first()
    if project is None:
        raise CommandError(f"There is no project {project_key!r}.")
    return user, project


class Command(BaseCommand):
    help = "Give USERNAME the role viewer, editor or owner in PROJECT_KEY (replacing any role they had there)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("project_key")
        parser.add_argument("role", choices=Role.values)

    def handle(self, *args, username, project_key, role, **options):
        user, project = user_and_project(username, project_key)
        before = Membership.objects.filter(user=user, project=project).values_list("role", flat=True).first()
        permissions.grant(user, project, role)
        if before == role:
            self.stdout.write(f"{username} already was {role} of {project.key}.")
        else:
            self.stdout.write(self.style.SUCCESS(f"{username} is now {role} of {project.key}."))
