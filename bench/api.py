"""Token API benchmark: N concurrent token clients each queue a story (`POST /api/stories/<key>/generate`) and
follow its job's event stream (`GET /api/jobs/<id>/events`) to the end, on one daphne process and one real
qcluster, against the fake Gemini server at latency L (default 1 s).

    .venv/bin/python bench/api.py [--clients 1,50] [--latency 1.0] [--workers 8]

Prints, per N: the queue call's p95, the first event's latency p95 (from sending the stream request to the first
typed event), the time to the final event, and the web process's live-update database queries per second while
the streams are open (its one shared watcher, from `/events/_stats`; the queries a stream makes when it connects
are counted apart). One watcher per process means queries/s should not grow with the number of streams: target
ratio N=50 vs N=1 <= 1.2.

Sets up its own environment: a temporary SQLite database under /tmp (migrated), a user with an API token, a staff
session for the stats, stories in a project the user edits; daphne, qcluster and the fake Gemini server as
subprocesses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA_DIR = tempfile.mkdtemp(prefix="qaforge-api-bench-", dir="/tmp")
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "qaforge.settings",
        "QAFORGE_DATA_DIR": DATA_DIR,
        "DEBUG": "0",
        "SECRET_KEY": "qaforge-api-bench-only",
        "QAFORGE_LOG_LEVEL": "WARNING",
        "GEMINI_API_KEY": "bench-key-not-secret",
        "QAFORGE_QUEUE_NAME": f"apibench{os.getpid()}",
        "QAFORGE_QUEUE_POLL": "0.05",
    }
)
os.environ.pop("DATABASE_URL", None)  # always the temporary SQLite database (and the ORM broker)
os.environ.pop("REDIS_URL", None)

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import Client  # noqa: E402

from api.models import ApiToken  # noqa: E402
from stories import permissions  # noqa: E402
from stories.models import Role  # noqa: E402
from tests import factories  # noqa: E402
from tests.services import free_port, wait_for_port  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


def setup() -> tuple[str, str]:
    call_command("migrate", verbosity=0)
    user = factories.make_user("bench")
    staff = factories.make_user("ops", is_staff=True)
    project = factories.make_project(key="BENCH", name="Benchmark")
    permissions.grant(user, project, Role.EDITOR)
    _row, token = ApiToken.objects.issue(user, "bench")
    client = Client()
    client.force_login(staff)
    connections.close_all()
    return token, client.cookies["sessionid"].value


def make_stories(prefix: str, n: int) -> list[str]:
    from stories.models import Project

    project = Project.objects.get(key="BENCH")
    keys = [factories.make_story(project=project, key=f"{prefix}-{i + 1}").key for i in range(n)]
    connections.close_all()
    return keys


async def one_client(http: httpx.AsyncClient, key: str) -> dict:
    t0 = time.monotonic()
    queued = await http.post(f"/api/stories/{key}/generate", json={"test_cases": 5, "scenarios_per_test": 3})
    queue_s = time.monotonic() - t0
    assert queued.status_code == 202, queued.text
    url = queued.json()["events_url"]
    asked = time.monotonic()
    first = last = None
    kinds = []
    async with http.stream("GET", url) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kinds.append(line[len("event: ") :])
                first = first or time.monotonic()
                last = time.monotonic()
    return {"queue": queue_s, "first": first - asked, "end": last - t0, "final": kinds[-1] if kinds else ""}


async def run_case(base: str, token: str, session: str, keys: list[str]) -> dict:
    n = len(keys)
    limits = httpx.Limits(max_connections=2 * n + 10, max_keepalive_connections=2 * n + 10)
    timeout = httpx.Timeout(30.0, read=None)
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout, headers=headers) as http,
        httpx.AsyncClient(base_url=base, timeout=10, cookies={"sessionid": session}) as ops,
    ):
        before = (await ops.get("/events/_stats")).json()
        t0 = time.monotonic()
        results = await asyncio.gather(*(one_client(http, key) for key in keys))
        elapsed = time.monotonic() - t0
        after = (await ops.get("/events/_stats")).json()
    return {
        "clients": n,
        "ready": sum(r["final"] == "job_ready" for r in results),
        "queue_p95_ms": percentile([r["queue"] for r in results], 95) * 1000,
        "first_event_p95_ms": percentile([r["first"] for r in results], 95) * 1000,
        "end_median_s": statistics.median(r["end"] for r in results),
        "seconds": elapsed,
        "queries_per_s": (after["queries"] - before["queries"]) / elapsed,
        "queries_per_tick": (after["queries"] - before["queries"]) / max(1, after["ticks"] - before["ticks"]),
        "connect_queries": after["connect_queries"] - before["connect_queries"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,50", help="comma-separated client counts (default 1,50)")
    parser.add_argument("--latency", type=float, default=1.0, help="fake Gemini latency per call, seconds")
    parser.add_argument("--workers", type=int, default=8, help="qcluster workers (default 8)")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]

    token, session = setup()
    fake_port, web_port = free_port(), free_port()
    env = {
        **os.environ,
        "GEMINI_BASE_URL": f"http://127.0.0.1:{fake_port}",
        "QAFORGE_WORKERS": str(args.workers),
    }
    logs = {name: open(Path(DATA_DIR) / f"{name}.log", "w") for name in ("fake", "cluster", "daphne")}  # noqa: SIM115
    processes = [
        subprocess.Popen(
            [sys.executable, "tests/fake_gemini.py", "--port", str(fake_port), "--latency", str(args.latency)],
            cwd=ROOT,
            env=env,
            stdout=logs["fake"],
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=logs["cluster"],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port), "qaforge.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=logs["daphne"],
            stderr=subprocess.STDOUT,
        ),
    ]
    base = f"http://127.0.0.1:{web_port}"
    try:
        wait_for_port(fake_port)
        wait_for_port(web_port, process=processes[2])
        # Warm up the web process, the workers and the watcher (first-request imports are not what we measure).
        asyncio.run(run_case(base, token, session, make_stories("WARM", args.workers)))
        results = [asyncio.run(run_case(base, token, session, make_stories(f"N{n}", n))) for n in counts]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs.values():
            log.close()

    print(f"Token API: one daphne, one qcluster ({args.workers} workers), fake Gemini at L = {args.latency:g} s")
    print(
        f"{'clients':>7} {'ready':>5} {'queue p95':>10} {'1st event p95':>14} {'end (median)':>13} "
        f"{'watcher q/s':>12} {'q/tick':>7} {'connect q':>9}"
    )
    for r in results:
        print(
            f"{r['clients']:>7} {r['ready']:>5} {r['queue_p95_ms']:>8.0f}ms {r['first_event_p95_ms']:>12.0f}ms "
            f"{r['end_median_s']:>12.2f}s {r['queries_per_s']:>12.1f} {r['queries_per_tick']:>7.2f} "
            f"{r['connect_queries']:>9}"
        )
    if len(results) > 1:
        ratio = results[-1]["queries_per_s"] / max(results[0]["queries_per_s"], 1e-9)
        verdict = "ok" if ratio <= 1.2 else "ABOVE TARGET"
        many, one = results[-1]["clients"], results[0]["clients"]
        print(f"watcher queries/s, {many} vs {one} clients: {ratio:.2f} ({verdict})")
    print(json.dumps(results))
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    return 0 if all(r["ready"] == r["clients"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
