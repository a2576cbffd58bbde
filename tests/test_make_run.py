"""Ctrl-C in `make run`, typed in a real terminal (a pseudo-terminal) while Gemini is still answering: the running jobs
go back to the queue at once, and `make` ends within seconds with status 0, no "Error 130/143", no traceback.

`make run` runs in this checkout as a person types it (the .venv is installed already: `-o .venv/.installed`), with
its own data directory (SQLite database, the ORM broker's queue), the fake Gemini server, and a clean environment.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster import wait_until
from tests.fake_gemini import start_fake_gemini
from tests.services import ROOT, Terminal, free_port

pytestmark = pytest.mark.slow

STOP_SECONDS = 10  # measured: about 1.5 s with two jobs in flight
BANNER_END = "Ctrl-C stops the web server and the worker"
HANDED_BACK = "Waiting for a worker (handed back by a stopping worker)"

# What the tests read from the checkout's database: each job, and the run_generation_job tasks the broker holds.
STATE = """
import json
from django.utils import timezone
from django_q.models import OrmQ
from generation.models import GenerationJob
jobs = GenerationJob.objects.select_related("story").order_by("story__key")
tasks = [t for t in OrmQ.objects.all() if t.func() == "generation.tasks.run_generation_job"]
print(json.dumps({
    "jobs": [{"id": str(j.pk), "story": j.story.key, "status": j.status, "phase": j.phase, "attempts": j.attempts,
              "suggestions": j.suggestions.count()} for j in jobs],
    "tasks_for": sorted(str(t.args()[0]) for t in tasks),
    "tasks_waiting": all(t.lock <= timezone.now() for t in tasks),
}))
"""


@pytest.fixture
def fake():
    server = start_fake_gemini(latency=60)  # every call is still out when Ctrl-C comes
    yield server
    server.stop()


@pytest.fixture
def checkout_env(tmp_path, fake) -> dict[str, str]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    queue = f"{os.environ.get('QAFORGE_QUEUE_NAME', 'qaforge')}-make-run{os.environ.get('PYTEST_XDIST_WORKER', '')}"
    env = {
        "HOME": str(tmp_path),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "QAFORGE_ENV_FILE": "",  # not this checkout's .env, but what `make run` writes in a new one:
        "DEBUG": "1",
        "QAFORGE_DATA_DIR": str(data_dir),
        "QAFORGE_QUEUE_NAME": queue,
        "QAFORGE_WORKERS": "2",
        "QAFORGE_GENERATOR": "gemini",
        "GEMINI_API_KEY": "test-key",
        "GEMINI_BASE_URL": fake.url,
    }
    yield env
    for pid in processes_using(data_dir):  # whatever a failed test left running
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def make_run(checkout_env):
    """Start `make run` in a terminal; yields a function that starts it (again) and returns the Terminal once the
    banner is shown."""
    terminals: list[Terminal] = []

    def start() -> Terminal:
        port = free_port()
        terminal = Terminal(
            ["make", "-o", ".venv/.installed", "-o", ".env", "run", f"QAFORGE_PORT={port}"], cwd=ROOT, env=checkout_env
        )
        terminals.append(terminal)
        terminal.wait_for(BANNER_END, timeout=120)
        assert f"QAForge is running at http://127.0.0.1:{port}/" in terminal.output
        return terminal

    yield start
    for terminal in terminals:
        terminal.close()


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def state(env: dict[str, str]) -> dict:
    return json.loads(manage(env, "shell", "--no-imports", "-c", STATE))


def processes_using(data_dir: Path) -> list[int]:
    """Pids of the processes started with this data directory (the server, the cluster and its workers)."""
    marker = f"QAFORGE_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def ctrl_c_and_wait(terminal: Terminal) -> tuple[int, str]:
    """Ctrl-C, as typed; returns make's exit status and what the terminal showed from then on."""
    shown = len(terminal.output)
    terminal.ctrl_c()
    status = terminal.wait(timeout=STOP_SECONDS)
    return status, terminal.output[shown:]


def assert_tidy(output: str) -> None:
    for noise in ("Traceback", "Error 1", "Error 2", "Interrupt", "SIGKILL", "Killed"):
        assert noise not in output, output


def test_ctrl_c_hands_running_jobs_back_and_make_ends_with_status_0(make_run, checkout_env, fake):
    terminal = make_run()
    manage(checkout_env, "generate_tests", "SHOP-1", "SHOP-2", "--test-cases", "2", "--scenarios-per-test", "2")
    wait_until(lambda: fake.snapshot()["in_flight"] == 2, message="both jobs waiting on Gemini")

    status, output = ctrl_c_and_wait(terminal)

    assert status == 0, output
    assert_tidy(output)
    assert output.rstrip().endswith("QAForge stopped."), output
    assert processes_using(Path(checkout_env["QAFORGE_DATA_DIR"])) == []
    after_stop = state(checkout_env)
    job_ids = sorted(job["id"] for job in after_stop["jobs"])
    assert [(job["story"], job["status"], job["phase"], job["attempts"]) for job in after_stop["jobs"]] == [
        ("SHOP-1", "queued", HANDED_BACK, 0),
        ("SHOP-2", "queued", HANDED_BACK, 0),
    ]
    # One task waiting in the broker for each job, free for the next worker (not held by the cluster that stopped).
    assert after_stop["tasks_for"] == job_ids
    assert after_stop["tasks_waiting"]

    # The next `make run` finishes them, each once.
    fake.configure(latency=0)
    terminal = make_run()
    for job_id in job_ids:
        terminal.wait_for(f"job {job_id} ready", timeout=30)
    status, output = ctrl_c_and_wait(terminal)
    assert status == 0, output
    finished = state(checkout_env)
    assert [(job["id"], job["status"], job["suggestions"]) for job in finished["jobs"]] == [
        (job["id"], "ready", 2) for job in after_stop["jobs"]
    ]


def test_a_second_ctrl_c_stops_at_once_without_a_traceback(make_run, checkout_env, fake):
    terminal = make_run()
    manage(checkout_env, "generate_tests", "SHOP-1", "--test-cases", "2", "--scenarios-per-test", "2")
    wait_until(lambda: fake.snapshot()["in_flight"] == 1, message="the job waiting on Gemini")
    assert terminal.foreground_group() != terminal.process.pid, "`manage.py serve` has the terminal, not make"

    shown = len(terminal.output)
    terminal.ctrl_c()
    terminal.wait_for("Stopping QAForge")
    terminal.ctrl_c()
    status = terminal.wait(timeout=STOP_SECONDS)
    output = terminal.output[shown:]

    assert status == 0, output
    assert "stopping at once" in output
    assert_tidy(output)
    assert output.rstrip().endswith("QAForge stopped."), output
    # Killed, not stopped: gone within moments of make's end.
    wait_until(lambda: not processes_using(Path(checkout_env["QAFORGE_DATA_DIR"])), timeout=5, message="no process")


def test_a_port_in_use_ends_make_run_with_the_reason_and_stops_the_worker(checkout_env):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        terminal = Terminal(
            ["make", "-o", ".venv/.installed", "-o", ".env", "run", f"QAFORGE_PORT={port}"], cwd=ROOT, env=checkout_env
        )
        try:
            status = terminal.wait(timeout=60)
        finally:
            terminal.close()
    output = terminal.output
    assert status == 2, output  # make's own status for a recipe that failed
    assert f"Couldn't listen on 127.0.0.1:{port}: [Errno 98] Address already in use." in output
    assert "QAForge: the web server ended (status 1); stopping the rest." in output
    assert "QAForge is running" not in output and "Traceback" not in output, output
    assert processes_using(Path(checkout_env["QAFORGE_DATA_DIR"])) == []
