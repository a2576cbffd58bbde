"""`manage.py demo`: load the demo projects, stories and test cases and the demo user (idempotent)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from stories.demo_data import (
    DEMO_PASSWORD,
    DEMO_URL,
    DEMO_USERNAME,
    VIEWER_PASSWORD,
    VIEWER_PROJECT,
    VIEWER_USERNAME,
    load_demo,
)


class Command(BaseCommand):
    help = (
        "Load demo data: two projects with about 20 user stories, a few saved test cases, and the user demo/demo "
        "(an admin). Running it again adds only what is missing and never overwrites edits."
    )

    def handle(self, *args, **options):
        result = load_demo()
        if options["verbosity"] < 1:
            pass  # `make run` prints the address and the login itself, once the server answers
        elif result.changed:
            self.stdout.write(self.style.SUCCESS("Demo data loaded: " + ", ".join(result.changes) + "."))
        else:
            self.stdout.write("Demo data already loaded: nothing changed.")
        if options["verbosity"] >= 1:
            self.stdout.write(
                f"Open {DEMO_URL} and log in as {DEMO_USERNAME} / {DEMO_PASSWORD} (also the admin at /admin/)."
            )
            self.stdout.write(
                f"To see what a read-only member sees, log in as {VIEWER_USERNAME} / {VIEWER_PASSWORD} "
                f"(a viewer of {VIEWER_PROJECT} only)."
            )
        if not settings.DEBUG:
            self.stderr.write(
                self.style.WARNING("DEBUG is off: the demo user has a known password; do not expose this server.")
            )
