"""Generation benchmark: sequential vs parallel batches against the fake Gemini server at a fixed latency L.

Run: .venv/bin/python bench/generation.py [--latency 1.0]
Prints, from one run: 45 and 100 scenarios with concurrency 1 (the old product's one-batch-after-another) and with
every batch in flight, their ratio and parallel / L; then 10 stories started together in one process.
Targets: 45 scenarios within 1.15 x L, 10 stories together within 1.3 x L. The real SDK does the calls; only the
server is fake (a separate process, so its threads do not share our interpreter).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def start_fake(latency: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_gemini.py"), "--port", "0", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline().strip()  # "fake_gemini listening on http://127.0.0.1:PORT"
    if "listening on " not in line:
        process.kill()
        raise SystemExit(f"the fake Gemini server did not start: {line!r}")
    return process, line.split("listening on ", 1)[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0, help="seconds each fake model call takes (L)")
    args = parser.parse_args()
    latency = args.latency

    fake, url = start_fake(latency)
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", "qaforge-bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qaforge.settings")
    os.environ["QAFORGE_LOG_LEVEL"] = "WARNING"
    os.environ["GEMINI_API_KEY"] = "bench-key-not-secret"
    os.environ["GEMINI_BASE_URL"] = url
    os.environ["QAFORGE_GENERATOR"] = "gemini"
    # Its own SQLite database under /tmp, migrated: the cluster-wide rate limiter keeps its calls in the database.
    os.environ["QAFORGE_DATA_DIR"] = tempfile.mkdtemp(prefix="qaforge-bench-generation-")
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.conf import settings

    from generation.engine import GenerationRequest, generate
    from tests.factories import cart_snapshot
    from tests.fake_gemini import FakeGeminiClient, max_overlap

    control = FakeGeminiClient(url)
    story = cart_snapshot(key="BENCH-1")
    default_concurrency = settings.QAFORGE_LLM_CONCURRENCY

    def timed(request: GenerationRequest, concurrency: int) -> tuple[float, object]:
        settings.QAFORGE_LLM_CONCURRENCY = concurrency
        started = time.perf_counter()
        result = generate(story, request)
        wall = time.perf_counter() - started
        if result.error or result.warning:
            raise SystemExit(f"generation failed: {result.error or result.warning}")
        return wall, result

    def verdict(value: float, target: float) -> str:
        return f"(target <= {target:.2f}: {'OK' if value <= target else 'MISSED'})"

    try:
        print(f"fake Gemini at {url}, latency L = {latency:.2f} s per call; batch size {settings.QAFORGE_BATCH_SIZE}")
        timed(GenerationRequest(1, 1), default_concurrency)  # warm-up: imports, first TLS-free client set-up
        for request, target in ((GenerationRequest(9, 5), 1.15), (GenerationRequest(10, 10), None)):
            sequential, result = timed(request, 1)
            control.reset()
            parallel, result = timed(request, default_concurrency)
            overlap = max_overlap(control.calls)
            total = request.total_scenarios
            scenarios = result.report["scenarios"]
            print(
                f"{total:>3} scenarios ({result.batches_total:>2} batches, {scenarios} returned): "
                f"sequential {sequential:6.2f} s | parallel {parallel:5.2f} s | ratio {sequential / parallel:5.2f}x | "
                f"parallel / L {parallel / latency:4.2f} | {overlap} calls in flight together "
                + (verdict(parallel / latency, target) if target else "")
            )

        settings.QAFORGE_LLM_CONCURRENCY = default_concurrency
        for request, target in ((GenerationRequest(), 1.3), (GenerationRequest(9, 5), None)):
            control.reset()
            results = []
            threads = [
                threading.Thread(target=lambda r=request, out=results: out.append(generate(story, r)))
                for i in range(10)
            ]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
            failed = [r for r in results if r.error or r.warning]
            calls = control.calls
            note = (
                verdict(wall / latency, target)
                if target
                else f"(bounded by QAFORGE_LLM_CONCURRENCY={default_concurrency}: "
                f"{len(calls)} calls need {-(-len(calls) // default_concurrency)} rounds)"
            )
            print(
                f"10 stories together, {request.total_scenarios} scenarios each ({len(calls)} calls): "
                f"wall {wall:5.2f} s | wall / L {wall / latency:4.2f} | max {max_overlap(calls)} in flight | "
                f"{len(failed)} failed {note}"
            )
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
