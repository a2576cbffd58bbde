"""The engine's own CPU per job, with nothing around it: no database, no queue, no lease, no writes.

Runs N jobs (9 test cases x 5 scenarios: three calls each, as in bench/throughput.py) at once in threads of one
process, as a worker runs them, through the real SDK against the fake Gemini server, with the in-process rate
limiter store; prints the process's CPU seconds per job for a few rounds. What is left is what every job must pay
whatever the cluster around it does: building and sending three requests, reading three answers, checking 45
scenarios' Gherkin, merging. Set beside bench/throughput.py's CPU seconds per job, it says how much of a sprint's
CPU the cluster's own work (claims, checkpoints, results, the limiter's store, django-q2) adds.

    .venv/bin/python bench/engine_cpu.py [--jobs 16] [--rounds 4] [--latency 0.3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generation import start_fake  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=16, help="jobs at once (QAFORGE_JOBS_PER_WORKER's default)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds each fake model call takes")
    args = parser.parse_args()

    fake, url = start_fake(args.latency)
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", "qaforge-bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qaforge.settings")
    os.environ.update(
        QAFORGE_LOG_LEVEL="WARNING",
        GEMINI_API_KEY="bench-key-not-secret",
        GEMINI_BASE_URL=url,
        QAFORGE_GENERATOR="gemini",
        QAFORGE_LLM_LIMITER="memory",  # the limiter's rule without its store's round trips
    )
    import django

    django.setup()
    from generation.engine import GenerationRequest, gemini, generate
    from tests.factories import cart_snapshot

    request = GenerationRequest(test_cases=9, scenarios_per_test=5, test_types=("FUNCTIONAL", "UI"))
    callbacks = ThreadPoolExecutor(max_workers=1)  # as a worker's shared callback thread; the callback writes nothing

    def job(number: int) -> None:
        story = cart_snapshot(key=f"CPU-{number}")
        result = generate(story, request, on_batch_done=lambda *_: None, callbacks=callbacks)
        if result.error:
            raise SystemExit(f"generation failed: {result.error}")

    try:
        gemini.preload()  # as the cluster's parent does before it forks its workers
        print(f"{args.jobs} jobs at once in one process, 3 calls each, fake Gemini at L = {args.latency:g} s")
        for round_number in range(1, args.rounds + 1):
            cpu, wall = time.process_time(), time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.jobs) as pool:
                list(pool.map(job, range(args.jobs)))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            first = " (the first: lazy imports and set-up)" if round_number == 1 else ""
            print(
                f"  round {round_number}: CPU {cpu:.3f} s = {1000 * cpu / args.jobs:.1f} ms per job; "
                f"wall {wall:.2f} s = L + {wall - args.latency:.2f} s{first}"
            )
    finally:
        callbacks.shutdown()
        fake.terminate()
        fake.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
