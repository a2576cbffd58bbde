"""A whole sprint through the real cluster with default settings: 50 and 100 stories x 45 scenarios at latency L.

Prints, per run, the wall time from the first queue call to the last job ready as a multiple of L (the goal: 50
stories <= 1.5 x L plus the queueing time, 100 stories <= 2 x L), the queueing time, the peak number of calls in
flight at the fake Gemini server, the cluster's peak RSS and its CPU seconds per job, and where the time went: when
each job was claimed, sent its first call, got its last answer and was ready (median and last, from the jobs' rows
and the fake's call log). Then a cluster under a cluster-wide request limit: the most calls Gemini saw in any
window, and the wall time against calls / R. The cluster runs as in production (DEBUG off) and is timed only once it
answers a task. CPU seconds per job and the calls in flight depend little on other load on the machine; the wall
time does (report `uptime` with it): on two cores, 50 jobs' CPU alone is about 50 x 0.035 / 2 = 0.9 s. Each sprint
starts in a fresh minute of the cluster-wide limits (their store emptied), as a sprint queued on its own would.
`BENCH_CLUSTER_LOG=path QAFORGE_LOG_LEVEL=INFO` keeps the cluster's log.

    .venv/bin/python bench/throughput.py [--latency 1.0] [--stories 50,100] [--rpm 12 --window 10 --rpm-stories 10]
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--stories", default="50,100", help="comma-separated sizes of the sprint runs")
    parser.add_argument("--rpm", type=int, default=12, help="requests per window for the rate-limited run")
    parser.add_argument("--window", type=float, default=10.0, help="the limit's window in seconds (default 60 in use)")
    parser.add_argument("--rpm-stories", type=int, default=10)
    parser.add_argument(
        "--database-url",
        default="",
        help="e.g. postgres://postgres@127.0.0.1:5432/qaforge_bench (dropped and created afresh)",
    )
    parser.add_argument("--redis-url", default="", help="e.g. redis://127.0.0.1:6379/0 (the scale-out path)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.stories.split(",") if n.strip()]

    from tests.services import free_port, wait_for_port

    data_dir = tempfile.mkdtemp(prefix="qaforge-bench-throughput-")
    port = free_port()
    base_env = {
        "DEBUG": "0",  # as in production: DEBUG keeps every query (and on SQLite formats each with an extra query)
        "SECRET_KEY": "bench",
        "QAFORGE_DATA_DIR": data_dir,
        "GEMINI_API_KEY": "bench-key-not-secret",
        "GEMINI_BASE_URL": f"http://127.0.0.1:{port}",
        "QAFORGE_QUEUE_NAME": f"bench{os.getpid()}",
        "QAFORGE_LOG_LEVEL": os.environ.get("QAFORGE_LOG_LEVEL", "WARNING"),
    }
    for name in ("DATABASE_URL", "REDIS_URL", "QAFORGE_WORKERS", "QAFORGE_JOBS_PER_WORKER", "QAFORGE_LLM_RPM"):
        os.environ.pop(name, None)  # default settings: SQLite, the ORM broker, 8 workers, default limits
    if args.database_url:
        fresh_database(args.database_url)
        base_env["DATABASE_URL"] = args.database_url
    if args.redis_url:
        base_env["REDIS_URL"] = args.redis_url
    os.environ.update(base_env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qaforge.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from tests.fake_gemini import FakeGeminiClient

    fake_process = subprocess.Popen(
        [sys.executable, "tests/fake_gemini.py", "--port", str(port), "--latency", str(args.latency)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    fake = FakeGeminiClient(f"http://127.0.0.1:{port}")
    try:
        wait_for_port(port)
        where = "PostgreSQL" if args.database_url else "SQLite"
        where += ", Redis" if args.redis_url else ", ORM broker"
        print(f"throughput: default settings ({where}, 8 workers), fake Gemini at L={args.latency:.2f}s")
        with cluster({}) as pids:
            warm_up(fake)
            for run, size in enumerate(sizes, 1):
                # Each sprint in a fresh minute of the cluster-wide limits: 100 stories' 300 calls are estimated at
                # ~945,000 tokens before they go, near the default QAFORGE_LLM_TPM of 1,000,000 on their own, and
                # with the sprint before them in the same minute some calls would wait for earlier ones' real counts.
                forget_calls()
                sprint(run, size, args.latency, fake, pids, harness=[fake_process.pid, os.getpid()])
        if args.rpm_stories:
            limited = {"QAFORGE_LLM_RPM": str(args.rpm), "QAFORGE_LLM_RATE_WINDOW_SECONDS": str(args.window)}
            forget_calls()
            with cluster(limited):
                rate_limited(args, fake)
    finally:
        fake_process.terminate()
        fake_process.wait(timeout=5)


def fresh_database(url: str) -> None:
    """A fresh PostgreSQL database named by the URL (through the server's `postgres` database), dropped first if an
    earlier run left it: a run starts empty, as it does on SQLite."""
    import dj_database_url
    import psycopg

    settings = dj_database_url.parse(url)
    server = {
        "host": settings["HOST"] or None,
        "port": settings["PORT"] or None,
        "user": settings["USER"] or None,
        "password": settings["PASSWORD"] or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{settings["NAME"]}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{settings["NAME"]}"')


class cluster:
    """A real `manage.py qcluster` for the block; yields a function listing its processes' pids."""

    def __init__(self, env: dict) -> None:
        self.env = env

    def __enter__(self):
        log = open(os.environ["BENCH_CLUSTER_LOG"], "a") if os.environ.get("BENCH_CLUSTER_LOG") else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        answered(timeout=60)
        return self.pids

    def pids(self) -> list[int]:
        out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
        children: dict[int, list[int]] = {}
        for line in out.splitlines():
            pid, ppid = (int(x) for x in line.split())
            children.setdefault(ppid, []).append(pid)
        result, todo = [self.process.pid], list(children.get(self.process.pid, []))
        while todo:
            pid = todo.pop()
            result.append(pid)
            todo.extend(children.get(pid, []))
        return result

    def __exit__(self, *exc) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def answered(timeout: float) -> None:
    """Wait until the cluster has run a task: its workers are forked and its pusher reads the broker, so a run's
    wall time measures the jobs, not the cluster's start."""
    from django_q.tasks import async_task, result

    task_id = async_task("generation.tasks.ping")
    if result(task_id, wait=int(timeout * 1000)) != "pong":
        raise SystemExit(f"the cluster did not run a task within {timeout:g}s")


def queue(prefix: str, count: int, **options) -> tuple[list, float]:
    """Queue `count` new stories in one request's way (one bulk round trip); returns job ids and seconds taken."""
    from generation import jobs
    from tests.factories import make_project, make_story

    project = make_project(key=prefix)
    stories = [make_story(project=project, key=f"{prefix}-{i}") for i in range(count)]
    started = time.perf_counter()
    with jobs.enqueue_together():
        ids = [jobs.queue_generation(story, **options)[0].pk for story in stories]
    return ids, time.perf_counter() - started


def wait_done(ids, timeout: float) -> float:
    """Wait until every job has ended; return when the last one did (wall clock, from the jobs' rows). Looks a few
    times a second only: this script shares the cores with the cluster it measures."""
    from django.db.models import Max

    from generation.models import GenerationJob

    deadline = time.monotonic() + timeout
    jobs = GenerationJob.objects.filter(pk__in=ids)
    while time.monotonic() < deadline:
        if not jobs.exclude(status__in=["ready", "failed", "cancelled"]).exists():
            return jobs.aggregate(last=Max("finished_at"))["last"].timestamp()
        time.sleep(0.2)
    raise SystemExit(f"jobs did not finish within {timeout}s")


def warm_up(fake) -> None:
    # One small job per worker's first set-up (lazy imports, schema building), as in a cluster that has run a while.
    ids, _ = queue("WARM", 16, test_cases=1, scenarios_per_test=1, test_types=["FUNCTIONAL"])
    wait_done(ids, 120)
    fake.reset()


def sprint(run: int, size: int, latency: float, fake, pids, harness: list[int]) -> None:
    from generation.models import GenerationJob

    processes = pids()  # listed once (`ps`): sampling must not spend the CPU it measures
    before, harness_before, fake_before = cpu_seconds(processes), cpu_seconds(harness), cpu_seconds(harness[:1])
    per_process = {pid: cpu_seconds([pid]) for pid in processes}
    peak_rss = [0]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.1):
            peak_rss[0] = max(peak_rss[0], rss_bytes(processes))

    sampler = threading.Thread(target=sample)
    sampler.start()
    started_wall = time.time()
    try:
        ids, queueing = queue(
            f"S{run}X{size}", size, test_cases=9, scenarios_per_test=5, test_types=["FUNCTIONAL", "UI"]
        )
        wall = wait_done(ids, 300) - started_wall
    finally:
        sampling.set()
        sampler.join()
    cpu = cpu_seconds(processes) - before
    harness_cpu = cpu_seconds(harness) - harness_before  # the fake Gemini and this script share the two cores
    fake_cpu = cpu_seconds(harness[:1]) - fake_before
    # (a worker recycled meanwhile, django-q2's "recycle", is gone: its share is not counted here)
    per_process = sorted((max(0.0, cpu_seconds([pid]) - cpu) for pid, cpu in per_process.items()), reverse=True)
    snapshot = fake.snapshot()
    calls = snapshot["calls"]
    fake.reset()
    statuses = list(GenerationJob.objects.filter(pk__in=ids).values_list("status", flat=True))
    goal = 1.5 if size <= 50 else 2.0
    errors = set(GenerationJob.objects.filter(pk__in=ids).exclude(error="").values_list("error", flat=True))
    print(f"  {size} stories x 45 scenarios ({len(calls)} calls): ready {statuses.count('ready')}/{size}")
    for error in sorted(errors)[:3]:
        print(f"    error: {error}")
    print(
        f"    wall from first queue call to last ready: {wall:.2f}s = {wall / latency:.2f} x L (goal <= {goal} x L"
        f"{' + queueing' if size <= 50 else ''}); queueing {queueing:.2f}s = {queueing / latency:.2f} x L"
    )
    print(
        f"    peak calls in flight at Gemini: {snapshot['max_in_flight']}; cluster peak RSS "
        f"{peak_rss[0] / 2**20:.0f} MiB; CPU {cpu:.1f}s = {cpu / size:.3f}s per job"
    )
    print(
        f"    on the same cores meanwhile: the fake Gemini server CPU {fake_cpu:.2f}s, this script "
        f"{harness_cpu - fake_cpu:.2f}s"
    )
    print(f"    cluster CPU by process (s): {' '.join(f'{c:.2f}' for c in per_process)}")
    timeline(ids, calls, started_wall, queueing, latency)


def timeline(ids, calls, started: float, queueing: float, latency: float) -> None:
    """Where the time went, per job, in seconds from the first queue call: the median and the last job of each step
    (queued to the broker, claimed by a worker, its first call at Gemini, its last answer from Gemini, ready)."""
    from generation.models import GenerationJob

    by_story: dict[str, list[dict]] = {}
    for call in calls:
        by_story.setdefault(call.get("story"), []).append(call)
    steps: dict[str, list[float]] = {"claimed": [], "first call": [], "last answer": [], "ready": []}
    for key, claimed, finished in GenerationJob.objects.filter(pk__in=ids).values_list(
        "story__key", "started_at", "finished_at"
    ):
        own = by_story.get(key) or [{"received": math.nan, "answered": math.nan}]
        steps["claimed"].append(claimed.timestamp() - started)
        steps["first call"].append(min(c["received"] for c in own) - started)
        steps["last answer"].append(max(c.get("answered") or math.nan for c in own) - started)
        steps["ready"].append(finished.timestamp() - started)
    parts = [f"queued {queueing:.2f}"]
    for name, values in steps.items():
        values.sort()
        parts.append(f"{name} {values[len(values) // 2]:.2f}/{values[-1]:.2f}")
    spans = sorted(b - a for a, b in zip(steps["first call"], steps["last answer"], strict=True))
    print(f"    timeline (s from the first queue call, median/last): {'; '.join(parts)}")
    print(
        f"    first call to last answer per job: median {spans[len(spans) // 2]:.2f}s, max {spans[-1]:.2f}s "
        f"(L = {latency:g}s)"
    )


def forget_calls() -> None:
    """Empty the cluster-wide limiter's store: the sprints' calls of the last seconds must not count in the
    rate-limited run's first window."""
    from django.conf import settings

    from generation import ratelimit
    from generation.models import RateLimitCall

    RateLimitCall.objects.all().delete()
    if settings.REDIS_URL:
        limiter = ratelimit.store()
        limiter.client.delete(*limiter.keys)


def rate_limited(args, fake) -> None:
    ids, _ = queue("RATE", args.rpm_stories, test_cases=9, scenarios_per_test=5, test_types=["FUNCTIONAL", "UI"])
    started = time.time()
    wall = wait_done(ids, 600) - started
    calls = fake.snapshot()["calls"]
    starts = sorted(c["start"] for c in calls)
    most = max(sum(1 for s in starts[i:] if s < start + args.window) for i, start in enumerate(starts))
    windows = math.ceil(len(calls) / args.rpm) - 1  # the first R go at once, each further R one window later
    ideal = windows * args.window + args.latency
    print(f"  rate limit R={args.rpm} per {args.window:g}s, {args.rpm_stories} stories ({len(calls)} calls):")
    print(f"    most calls Gemini saw in any {args.window:g}s window: {most} (limit {args.rpm})")
    print(f"    wall {wall:.1f}s vs (calls / R - 1) windows + L = {ideal:.1f}s: ratio {wall / ideal:.2f}")
    # The limiter keeps each call in the window for MARGIN_SECONDS more (jitter between it and Gemini): by design.
    from generation.ratelimit import MARGIN_SECONDS

    paced = windows * (args.window + MARGIN_SECONDS) + args.latency
    print(
        f"    with the {MARGIN_SECONDS:g}s safety margin per window: {paced:.1f}s, ratio {wall / paced:.2f} "
        f"(over a 60s window the margin is {MARGIN_SECONDS / 60:.1%})"
    )


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


if __name__ == "__main__":
    main()
