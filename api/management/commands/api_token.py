"""python manage.py api_token USERNAME [--name NAME] [--expires-days N] | --list | --revoke PREFIX"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from api.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for a user and print it once (or list / revoke that user's tokens)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="Command line", help="what will use the token")
        parser.add_argument("--expires-days", type=int, help="days until the token stops working (default: never)")
        parser.add_argument("--list", action="store_true", help="list the user's tokens instead")
        parser.add_argument("--revoke", metavar="PREFIX", help="revoke the user's token starting with PREFIX")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"There is no user {options['username']!r}.")
        tokens = ApiToken.objects.filter(user=user)
        if options["list"]:
            for token in tokens:
                used = token.last_used_at.isoformat() if token.last_used_at else "never"
                self.stdout.write(f"{token.prefix}…  {token.state:8}  last used {used}  {token.name}")
            return
        if options["revoke"]:
            matches = [
                t for t in tokens if t.prefix.startswith(options["revoke"]) or options["revoke"].startswith(t.prefix)
            ]
            if len(matches) != 1:
                raise CommandError(f"{len(matches)} tokens of {user.username} match {options['revoke']!r}; name one.")
            matches[0].revoke()
            self.stdout.write(f"Revoked {matches[0]}.")
            return
        if not user.is_active:
            raise CommandError(f"{user.username} is deactivated; a token would not work.")
        days = options["expires_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-days must be 1 or more.")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        _token, raw = ApiToken.objects.issue(user, options["name"], expires_at=expires_at)
        # Only the token on stdout, so scripts can capture it: TOKEN=$(python manage.py api_token ci)
        self.stdout.write(raw)
