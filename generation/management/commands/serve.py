"""`manage.py serve [--host H] [--port P]`: the web server and the worker in the foreground (what `make run` starts).

Starts daphne and `manage.py qcluster` under `qaforge.supervisor` (Ctrl-C hands running jobs back to the queue and
ends both within seconds, exit status 0; a second Ctrl-C ends them at once), then prints the banner: the address, the
demo logins and the worker's status, once the server answers and a worker has run a task from the queue.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection
from django.urls import reverse

from generation.engine import active_generator
from qaforge.supervisor import Service, Supervisor
from stories.demo_data import DEMO_PASSWORD, DEMO_USERNAME, VIEWER_PASSWORD, VIEWER_PROJECT, VIEWER_USERNAME


def web_answers(url: str, timeout: float, stopping: threading.Event) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stopping.is_set():
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer means the server is up
        except OSError:
            time.sleep(0.2)
    return False


def worker_answers(timeout: float, stopping: threading.Event) -> float | None:
    """Seconds a worker took to run a queued `ping`, or None if none did within `timeout`."""
    from django_q.tasks import async_task, result

    started = time.monotonic()
    task_id = async_task("generation.tasks.ping", task_name=f"serve-ping-{time.time():.0f}", save=True)
    while time.monotonic() - started < timeout and not stopping.is_set():
        if result(task_id, wait=500) == "pong":
            return time.monotonic() - started
    return None


class Command(BaseCommand):
    help = (
        "Run the web server and the worker until Ctrl-C, printing the address and the demo logins once both answer "
        "(used by `make run`)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for server and worker")

    def handle(self, *args, host: str, port: int, timeout: float, **options):
        url = f"http://{host}:{port}/"
        daphne = [sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "qaforge.asgi:application"]
        qcluster = [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"]
        services = [Service("the web server", daphne), Service("the worker", qcluster)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        supervisor = Supervisor(services, cwd=settings.BASE_DIR, env=env)
        sys.exit(supervisor.run(lambda stopping: self.banner(url, timeout, stopping)))

    def banner(self, url: str, timeout: float, stopping: threading.Event) -> None:
        try:
            if not web_answers(f"{url.rstrip('/')}{reverse('login')}", timeout, stopping):
                if not stopping.is_set():
                    self.stderr.write(f"QAForge: the web server did not answer at {url} within {timeout:.0f} s.")
                return
            seconds = worker_answers(timeout, stopping)
        finally:
            connection.close()
        if stopping.is_set():
            return
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
            f"Log in as {DEMO_USERNAME} / {DEMO_PASSWORD} (also the admin at {url}admin/)"
            f" or {VIEWER_USERNAME} / {VIEWER_PASSWORD} (reads {VIEWER_PROJECT} only)",
            f"Worker: {worker}",
            f"Generator: {active_generator()['label']}",
            "Ctrl-C stops the web server and the worker (running jobs go back to the queue).",
            line,
        ]
        if not stopping.is_set():
            self.stdout.write("\n".join(lines))
            self.stdout.flush()
