"""Import benchmark: a wide Jira Cloud CSV (80 columns, BOM, repeated Labels/Sprint/Watchers columns, two Acceptance
Criteria fields, wiki markup, team statuses) through `import_stories` on a fresh SQLite database.

Run: .venv/bin/python bench/importing.py [--rows 100000] [--columns 80]
Prints, from one run: rows per minute for the dry run (the preview), the first import and an unchanged re-import,
the process's CPU seconds per 1,000 rows (steadier than wall time on a shared, loaded machine), and each step's peak
memory above a bare `django.setup()` process, for the full file and for a tenth of it: the ratio of the two peaks
shows that memory does not grow with the file. Target: >= 100,000 rows/min on SQLite.
Each measurement runs in its own process (peak RSS is per process); the file is written once, streamed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIXED = [
    "Summary", "Issue key", "Issue id", "Issue Type", "Status", "Status Category", "Project key", "Project name",
    "Priority", "Labels", "Labels", "Labels", "Sprint", "Sprint", "Watchers", "Watchers", "Watchers", "Description",
    "Custom field (Acceptance Criteria)", "Custom field (Acceptance Criteria)",
]  # fmt: skip
STATUSES = [("To Do", "To Do"), ("In Progress", "In Progress"), ("Ready for QA", "In Progress"), ("Done", "Done")]
DESCRIPTION = (
    "h3. Story\nAs a *shopper* I want to do thing {n} so that I get value.\n\n"
    "h3. Notes\n* Uses the {{{{Component{m}}}}} component\n* See [the design|https://design.example.com/{n}]"
)
CRITERIA = (
    "# Given a shopper with {m} items in the cart\nWhen they open the cart\nThen all {m} items are listed\n"
    "# The total includes VAT\n# Removing the last item shows {{{{Your cart is empty}}}}"
)


def write_export(path: Path, rows: int, columns: int) -> None:
    header = FIXED + [f"Custom field (Field {i})" for i in range(columns - len(FIXED))]
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(header)
        filler = [f"value {i}" for i in range(columns - len(FIXED))]
        for n in range(1, rows + 1):
            status, category = STATUSES[n % len(STATUSES)]
            m = n % 7 + 1
            writer.writerow(
                [f"Story number {n}", f"BENCH-{n}", str(100000 + n), "Bug" if n % 10 == 0 else "Story"]
                + [status, category, "BENCH", "Bench project", f"P{n % 4 + 1}"]
                + ["checkout", f"team-{n % 5}", "", "Sprint 1", "", "ana", "li", ""]
                + [DESCRIPTION.format(n=n, m=m), "", CRITERIA.format(m=m)]
                + filler
            )


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(path: str, mode: str, data_dir: str) -> None:
    """One measurement in this process: prints {"seconds", "cpu", "baseline_mb", "peak_mb", "summary"} as JSON."""
    os.environ["QAFORGE_DATA_DIR"] = data_dir
    import django

    django.setup()
    from django.core.management import call_command

    from stories.importing import import_stories

    if mode == "migrate":
        call_command("migrate", verbosity=0)
        return
    baseline = peak_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    summary = import_stories(path, dry_run=(mode == "dry-run"))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    result = {"seconds": seconds, "cpu": cpu, "baseline_mb": baseline, "peak_mb": peak_mb(), "summary": str(summary)}
    print(json.dumps(result))


def run_child(path: Path, mode: str, data_dir: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--file", str(path), "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1]) if mode != "migrate" else {}


def measure(rows: int, columns: int, workdir: Path) -> dict[str, dict]:
    path = workdir / f"jira-{rows}.csv"
    write_export(path, rows, columns)
    data_dir = workdir / f"data-{rows}"
    data_dir.mkdir()
    run_child(path, "migrate", data_dir)
    results = {"size_mb": path.stat().st_size / 1024 / 1024}
    for mode in ("dry-run", "import", "re-import"):
        results[mode] = run_child(path, "import" if mode == "re-import" else mode, data_dir)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=80)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["DEBUG"] = ""  # as in production: DEBUG keeps every query's SQL in memory
    os.environ.setdefault("SECRET_KEY", "qaforge-bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qaforge.settings")
    os.environ["QAFORGE_LOG_LEVEL"] = "WARNING"
    os.environ.pop("DATABASE_URL", None)  # the embedded default: SQLite
    if args.child:
        child(args.file, args.child, args.data_dir)
        return 0

    with tempfile.TemporaryDirectory(prefix="qaforge-bench-import-") as tmp:
        small = measure(args.rows // 10, args.columns, Path(tmp))
        full = measure(args.rows, args.columns, Path(tmp))
    print(f"Jira-shaped CSV, {args.columns} columns: {args.rows:,} rows ({full['size_mb']:.0f} MB), SQLite")
    for mode in ("dry-run", "import", "re-import"):
        r, s = full[mode], small[mode]
        per_minute = args.rows / r["seconds"] * 60
        grew = (r["peak_mb"] - r["baseline_mb"]) / max(1.0, s["peak_mb"] - s["baseline_mb"])
        print(
            f"  {mode:9}  {r['seconds']:6.1f} s  {per_minute:9,.0f} rows/min ({per_minute / 100_000:.2f} x target)"
            f"  CPU {r['cpu'] / args.rows * 1000:.3f} s/1k rows ({args.rows / r['cpu'] * 60:,.0f} rows/CPU-min)"
            f"  peak +{r['peak_mb'] - r['baseline_mb']:.0f} MB over {r['baseline_mb']:.0f} MB"
            f" (x{grew:.2f} of the {args.rows // 10:,}-row file's)  → {r['summary']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
