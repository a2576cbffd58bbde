"""`manage.py serve_banner --url URL`: the last lines `make run` prints.

Started beside the web server and the worker (Procfile): waits until the server answers at URL and a worker has
run a task from the queue, then prints the address, the demo login and the worker's status, and stays until
Ctrl-C (honcho stops every process when one ends).
"""

from __future__ import annotations

import signal
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urljoin

from django.core.management.base import BaseCommand
from django.urls import reverse

from generation.engine import active_generator
from stories.demo_data import DEMO_PASSWORD, DEMO_USERNAME, VIEWER_PASSWORD, VIEWER_PROJECT, VIEWER_USERNAME


def web_answers(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer means the server is up
        except OSError:
            time.sleep(0.2)
    return False


def worker_answers(timeout: float) -> float | None:
    """Seconds a worker took to run a queued `ping`, or None if none did within `timeout`."""
    from django_q.tasks import async_task, result

    started = time.monotonic()
    task_id = async_task("generation.tasks.ping", task_name=f"serve-banner-ping-{time.time():.0f}", save=True)
    while time.monotonic() - started < timeout:
        if result(task_id, wait=500) == "pong":
            return time.monotonic() - started
    return None


class Command(BaseCommand):
    help = "Print the address, demo login and worker status once the server answers (used by `make run`)."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/")
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for server and worker")
        parser.add_argument("--once", action="store_true", help="print the banner and exit (tests)")

    def handle(self, *args, url: str, timeout: float, once: bool, **options):
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: sys.exit(0))  # Ctrl-C: a quiet end, no traceback
        if not web_answers(urljoin(url, reverse("login")), timeout):
            self.stderr.write(f"QAForge: the web server did not answer at {url} within {timeout:.0f} s; see above.")
            sys.exit(1)
        seconds = worker_answers(timeout)
        if seconds is None:
            worker = self.style.WARNING(
                f"NOT answering after {timeout:.0f} s: jobs wait in the queue (see the worker's lines above)"
            )
        else:
            worker = f"ready (ran a test task in {seconds:.1f} s)"
        time.sleep(0.5)  # let the server's and the worker's own start-up lines land first: this comes last
        line = "─" * 60
        lines = [
            line,
            self.style.SUCCESS(f"QAForge is running at {url}"),
            f"Log in as {DEMO_USERNAME} / {DEMO_PASSWORD} (also the admin at {url.rstrip('/')}/admin/)"
            f" or {VIEWER_USERNAME} / {VIEWER_PASSWORD} (reads {VIEWER_PROJECT} only)",
            f"Worker: {worker}",
            f"Generator: {active_generator()['label']}",
            "Ctrl-C stops the web server and the worker.",
            line,
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
        if not once:
            while True:
                signal.pause()
