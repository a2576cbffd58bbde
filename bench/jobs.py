"""Jobs through the real cluster, queued one request at a time: 10 stories of 45 scenarios against the fake Gemini
server at latency L, and how quickly a queue call answers while they run.

Prints the wall time from the first queue call to the last job ready, as a multiple of L, against the physical
limit ceil(stories / (workers x QAFORGE_JOBS_PER_WORKER)) x L (a worker process runs up to 16 jobs at once, so 10
stories fit one round: 1 x L plus overhead), the time each job waited for a worker and ran, and the latency of the
queue call (p50/p95) while those jobs run. A whole sprint queued together, with default settings, the peak calls in
flight, RSS and CPU per job, and the cluster-wide rate limit, is `bench/throughput.py`.

    .venv/bin/python bench/jobs.py [--latency 1.0] [--workers 8] [--stories 10]
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("QAFORGE_WORKERS", 8)))
    parser.add_argument("--stories", type=int, default=10)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="qaforge-bench-jobs-")
    from tests.services import free_port, wait_for_port

    port = free_port()
    env = {
        "DEBUG": "1",
        "SECRET_KEY": "bench",
        "QAFORGE_DATA_DIR": data_dir,
        "GEMINI_API_KEY": "bench-key-not-secret",
        "GEMINI_BASE_URL": f"http://127.0.0.1:{port}",
        "QAFORGE_WORKERS": str(args.workers),
        "QAFORGE_QUEUE_NAME": f"bench{os.getpid()}",
        "QAFORGE_QUEUE_POLL": "0.05",
        "QAFORGE_LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    os.environ.update(env)
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qaforge.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from generation import jobs
    from generation.models import GenerationJob
    from tests.factories import make_project, make_story

    project = make_project(key="BENCH")
    stories = [make_story(project=project, key=f"BENCH-{i}") for i in range(args.stories)]
    probes = [make_story(project=project, key=f"PROBE-{i}") for i in range(30)]
    warmups = [make_story(project=project, key=f"WARMUP-{i}") for i in range(args.workers)]

    child_env = {**os.environ}
    fake = subprocess.Popen(
        [sys.executable, "tests/fake_gemini.py", "--port", str(port), "--latency", str(args.latency)],
        cwd=ROOT,
        env=child_env,
        stdout=subprocess.DEVNULL,
    )
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port)
        # Warm up with one small job per worker, as in a cluster that has been running for a while (the SDK itself is
        # warmed in the cluster's parent before it forks: generation.engine.gemini.preload).
        warm_ids = [
            jobs.queue_generation(story, test_cases=1, scenarios_per_test=1, test_types=["FUNCTIONAL"])[0].pk
            for story in warmups
        ]
        wait_done(warm_ids, timeout=60)

        queue_latencies: list[float] = []
        started = time.perf_counter()
        ids = []
        for story in stories:
            t = time.perf_counter()
            job, _ = jobs.queue_generation(story, test_cases=9, scenarios_per_test=5, test_types=["FUNCTIONAL", "UI"])
            queue_latencies.append(time.perf_counter() - t)
            ids.append(job.pk)

        stop = threading.Event()

        def probe() -> None:
            # Queue calls while the jobs run (then cancel those probe jobs, which their tasks then skip).
            from django.db import connection

            for story in probes:
                if stop.wait(0.1):
                    break
                t = time.perf_counter()
                probe_job, _ = jobs.queue_generation(story, test_cases=1, scenarios_per_test=1)
                queue_latencies.append(time.perf_counter() - t)
                jobs.cancel_job(probe_job)
            connection.close()

        prober = threading.Thread(target=probe)
        prober.start()
        wait_done(ids, timeout=120)
        wall = time.perf_counter() - started
        stop.set()
        prober.join()

        statuses = list(GenerationJob.objects.filter(pk__in=ids).values_list("status", flat=True))
        ready = statuses.count("ready")
        per_worker = int(os.environ.get("QAFORGE_JOBS_PER_WORKER", 16))
        limit = math.ceil(args.stories / (args.workers * per_worker))
        lat = sorted(queue_latencies)
        p50 = statistics.median(lat) * 1000
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] * 1000
        print(f"jobs: {args.stories} stories x 45 scenarios, {args.workers} warmed-up workers, L={args.latency:.2f}s")
        print(f"  ready: {ready}/{args.stories}")
        print(f"  wall from first queue call to last ready: {wall:.2f}s = {wall / args.latency:.2f} x L")
        print(f"  physical limit ceil(stories / (workers x {per_worker} jobs each)) x L = {limit} x L")
        rows = GenerationJob.objects.filter(pk__in=ids).values_list("queued_at", "started_at", "finished_at", "report")
        waits = sorted((s - q).total_seconds() for q, s, f, r in rows)
        runs = sorted((f - s).total_seconds() for q, s, f, r in rows)
        engine_walls = sorted(r.get("timings", {}).get("wall_seconds", 0) for q, s, f, r in rows)
        print(f"  per job: wait for a worker {waits[0]:.2f}-{waits[-1]:.2f}s, run {runs[0]:.2f}-{runs[-1]:.2f}s")
        print(f"  engine wall per job {engine_walls[0]:.2f}-{engine_walls[-1]:.2f}s")
        print(f"  queue call latency over {len(lat)} calls while jobs run: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    finally:
        os.killpg(cluster.pid, signal.SIGTERM)
        fake.terminate()
        try:
            cluster.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
        fake.wait(timeout=5)


def wait_done(ids, timeout: float) -> None:
    from generation.models import GenerationJob

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = GenerationJob.objects.filter(pk__in=ids).values_list("status", flat=True)
        if all(s in ("ready", "failed", "cancelled") for s in statuses):
            return
        time.sleep(0.02)
    raise SystemExit(f"jobs did not finish within {timeout}s")


if __name__ == "__main__":
    main()
