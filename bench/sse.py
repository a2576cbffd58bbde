"""Live-updates benchmark: latency from a job's progress write to the SSE event at the clients, and the server's
database queries per second, with N = 1 and N = 200 open streams on one daphne process.

    .venv/bin/python bench/sse.py [--streams 1,200] [--stories 50] [--writes 60] [--rate 10]

Sets up its own Django environment (a temporary SQLite database under /tmp, migrated), a staff user with a
session, a page of stories each with a running job; starts daphne as a subprocess; opens the streams with httpx
(each subscribed to every story, like one stories page per client); then writes job progress rows from this
process at a steady rate, as a worker would. Queries/s come from the server's own counter (`/events/_stats`):
one shared watcher means the figure should not grow with the number of streams (ratio near 1).
Targets: p95 <= 500 ms with 200 streams (the old product polled every 2 s); queries/s ratio ~ 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA_DIR = tempfile.mkdtemp(prefix="qaforge-sse-bench-", dir="/tmp")
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "qaforge.settings",
        "QAFORGE_DATA_DIR": DATA_DIR,
        "DEBUG": "0",
        "SECRET_KEY": "qaforge-sse-bench-only",
        "QAFORGE_LOG_LEVEL": "WARNING",
    }
)
os.environ.pop("DATABASE_URL", None)  # always the temporary SQLite database

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from generation.models import GenerationJob, JobStatus  # noqa: E402
from stories import permissions  # noqa: E402
from stories.models import Project, Role, UserStory  # noqa: E402
from tests.services import running_daphne  # noqa: E402

MARKER = re.compile(r"bench-(\d+)")


def setup_data(stories: int) -> tuple[str, list[int], list]:
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench-pass-1234", is_staff=True)
    client = Client()
    client.force_login(user)
    project = Project.objects.create(key="BENCH", name="Benchmark")
    permissions.grant(user, project, Role.VIEWER)  # staff alone sees no project's stories (stories.permissions)
    story_ids, job_ids = [], []
    for i in range(stories):
        story = UserStory.objects.create(project=project, key=f"BENCH-{i + 1}", title=f"Story {i + 1}")
        job = GenerationJob.objects.create(story=story, status=JobStatus.RUNNING, progress=1, phase="Planning")
        story_ids.append(story.pk)
        job_ids.append(job.pk)
    connections.close_all()
    return client.cookies["sessionid"].value, story_ids, job_ids


def write_progress(job_id, seq: int) -> None:
    GenerationJob.objects.filter(pk=job_id).update(
        progress=seq % 99 + 1, phase=f"bench-{seq}", batches_done=1, updated_at=timezone.now()
    )


class StreamClient:
    """One open stream; records when each marked write first shows up in an event."""

    def __init__(self, http: httpx.AsyncClient, url: str):
        self.http, self.url = http, url
        self.connected = asyncio.Event()
        self.arrivals: dict[int, float] = {}

    async def run(self) -> None:
        async with self.http.stream("GET", self.url) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith(": connected"):
                    self.connected.set()
                elif line.startswith("data: "):
                    match = MARKER.search(line)
                    if match:
                        self.arrivals.setdefault(int(match.group(1)), time.monotonic())


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


async def run_case(base: str, session: str, story_ids, job_ids, streams: int, writes: int, rate: float, seq0: int):
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=streams + 10)
    timeout = httpx.Timeout(10.0, read=None)
    cookies = {"sessionid": session}
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout, cookies=cookies) as http:
        url = "/events/stories?ids=" + ",".join(map(str, story_ids))
        clients = [StreamClient(http, url) for _ in range(streams)]
        started = time.monotonic()
        tasks = [asyncio.create_task(c.run()) for c in clients]
        await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), 120)
        connect_seconds = time.monotonic() - started
        await asyncio.sleep(1.0)  # initial badges delivered, watcher ticking

        before = (await http.get("/events/_stats")).json()
        t0 = time.monotonic()
        written: dict[int, float] = {}
        for i in range(writes):
            seq = seq0 + i
            job_id = job_ids[i % len(job_ids)]
            written[seq] = time.monotonic()  # from the start of the UPDATE (conservative)
            await asyncio.to_thread(write_progress, job_id, seq)
            await asyncio.sleep(max(0.0, t0 + (i + 1) / rate - time.monotonic()))
        await asyncio.sleep(2.0)  # stragglers
        after = (await http.get("/events/_stats")).json()
        elapsed = time.monotonic() - t0

        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    latencies = [c.arrivals[seq] - t for c in clients for seq, t in written.items() if seq in c.arrivals]
    missing = sum(1 for c in clients for seq in written if seq not in c.arrivals)
    return {
        "streams": streams,
        "connect_seconds": connect_seconds,
        "events": len(latencies),
        "missing": missing,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p95_ms": percentile(latencies, 95) * 1000 if latencies else float("nan"),
        "max_ms": max(latencies) * 1000 if latencies else float("nan"),
        "queries_per_s": (after["queries"] - before["queries"]) / elapsed,
        "ticks_per_s": (after["ticks"] - before["ticks"]) / elapsed,
        "renders": after["badges_rendered"] - before["badges_rendered"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", default="1,200", help="comma-separated stream counts (default 1,200)")
    parser.add_argument("--stories", type=int, default=50, help="stories on the page (default 50)")
    parser.add_argument("--writes", type=int, default=60, help="progress writes per case (default 60)")
    parser.add_argument("--rate", type=float, default=10.0, help="progress writes per second (default 10)")
    args = parser.parse_args()

    session, story_ids, job_ids = setup_data(args.stories)
    results = []
    with running_daphne(log_path=Path(DATA_DIR) / "daphne.log") as base:
        for n, streams in enumerate(int(s) for s in args.streams.split(",")):
            result = asyncio.run(
                run_case(base, session, story_ids, job_ids, streams, args.writes, args.rate, seq0=(n + 1) * 100_000)
            )
            results.append(result)

    print(f"SSE live updates: one daphne process, {args.stories} stories per page, {args.rate:g} writes/s")
    print(
        f"{'streams':>8} {'connect s':>10} {'events':>8} {'missing':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
        f"{'queries/s':>10} {'ticks/s':>8} {'renders':>8}"
    )
    for r in results:
        print(
            f"{r['streams']:>8} {r['connect_seconds']:>10.2f} {r['events']:>8} {r['missing']:>8} {r['p50_ms']:>8.0f} "
            f"{r['p95_ms']:>8.0f} {r['max_ms']:>8.0f} {r['queries_per_s']:>10.2f} {r['ticks_per_s']:>8.2f} "
            f"{r['renders']:>8}"
        )
    if len(results) >= 2 and results[0]["queries_per_s"]:
        ratio = results[-1]["queries_per_s"] / results[0]["queries_per_s"]
        print(f"queries/s ratio ({results[-1]['streams']} vs {results[0]['streams']} streams): {ratio:.2f} (target ~1)")
    worst = max(r["p95_ms"] for r in results)
    print(f"worst p95: {worst:.0f} ms (target <= 500 ms)")
    server_log = (Path(DATA_DIR) / "daphne.log").read_text()
    if "Traceback" in server_log or "ERROR" in server_log:
        print("\nserver log (errors found):\n" + "\n".join(server_log.splitlines()[-40:]))
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
