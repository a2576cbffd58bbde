"""`manage.py revoke USERNAME PROJECT_KEY`: remove a user from a project (stories.permissions)."""

from django.core.management.base import BaseCommand

from stories import permissions
from stories.management.commands.grant import user_and_project


class Command(BaseCommand):
    help = "Remove USERNAME from PROJECT_KEY: they no longer see or change it (superusers still do)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("project_key")

    def handle(self, *args, username, project_key, **options):
        user, project = user_and_project(username, project_key)
        if permissions.revoke(user, project):
            self.stdout.write(self.style.SUCCESS(f"{username} is no longer a member of {project.key}."))
        else:
            self.stdout.write(f"{username} was not a member of {project.key}.")
