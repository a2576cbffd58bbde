"""The README's commands and the empty stories page's commands, run exactly as printed, in a fresh shell, on a
fresh checkout after set-up (`make .env` and the migrations `make run` applies): each exits 0, with no traceback.

The checkout is a copy of the tracked files in a temporary directory (its own SQLite database and `.env`), sharing
this checkout's `.venv`; the shell starts with an empty environment, as a new terminal would. A worker runs for the
commands that wait on one (`generate_tests --wait`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests import cluster
from tests.services import ROOT

pytestmark = pytest.mark.slow

FRESH_SHELL = {"HOME": "", "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


def readme_script_lines() -> list[str]:
    """The command lines of the README's "Scripts" block, comments dropped."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Scripts", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = (line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line for line in block.splitlines())
    return [command.split("  #", 1)[0].strip() for command in commands if command.strip()]


def empty_state_commands() -> list[str]:
    template = (ROOT / "templates" / "stories" / "list.html").read_text(encoding="utf-8")
    return re.findall(r"<code>([^<]*manage\.py[^<]*)</code>", template)


@pytest.fixture(scope="module")
def fresh_checkout(tmp_path_factory) -> Path:
    checkout = tmp_path_factory.mktemp("checkout")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, checkout / name)
    (checkout / ".venv").symlink_to((ROOT / ".venv").resolve())
    (checkout / "data").mkdir(exist_ok=True)
    # What `make run` does before it starts the servers (minus installing, already done for this .venv).
    shell(checkout, "make .env")
    shell(checkout, ".venv/bin/python manage.py migrate --no-input --verbosity 0")
    return checkout


def shell(checkout: Path, line: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**FRESH_SHELL, "HOME": str(checkout)}
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", line],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"`{line}` exited {done.returncode}:\n{output[-3000:]}"
    assert "Traceback" not in output, f"`{line}`:\n{output[-3000:]}"
    return done


@pytest.fixture(scope="module")
def worker(fresh_checkout):
    # Two worker processes (not the default eight) do for two stories, and start in a fraction of the CPU time.
    env = {**FRESH_SHELL, "HOME": str(fresh_checkout), "QAFORGE_WORKERS": "2"}
    process = subprocess.Popen(
        [".venv/bin/python", "manage.py", "qcluster"],
        cwd=fresh_checkout,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    yield process
    cluster.stop(process)


def test_the_readme_scripts_block_is_runnable_as_printed():
    lines = readme_script_lines()
    assert len(empty_state_commands()) == 2
    assert len(lines) >= 8
    assert all(line.startswith(".venv/bin/python manage.py ") for line in lines), lines


def test_every_readme_command_works_as_written_in_a_fresh_shell(fresh_checkout, worker):
    lines = readme_script_lines()
    assert set(empty_state_commands()) <= set(lines)  # the page prints README commands: run once, below
    for line in lines:
        shell(fresh_checkout, line)
    assert (fresh_checkout / "out" / "SHOP-1").is_dir()  # export_tests wrote the saved test cases


def test_a_missing_setting_is_one_clear_line_not_a_traceback(fresh_checkout):
    env = {**FRESH_SHELL, "HOME": str(fresh_checkout), "QAFORGE_ENV_FILE": ""}  # no .env: DEBUG off, no key
    done = subprocess.run(
        ["bash", "-c", ".venv/bin/python manage.py check"], cwd=fresh_checkout, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "manage.py: SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for development)."
    ]
    assert done.stdout == ""


def test_python3_outside_the_venv_runs_manage_py_in_the_venv(fresh_checkout):
    done = shell(fresh_checkout, "python3 manage.py help demo")
    assert "Load demo data" in done.stdout


def test_make_run_prints_address_login_and_worker_last_and_ctrl_c_stops_everything(fresh_checkout):
    import time
    import urllib.request

    from tests.services import free_port

    port = free_port()
    env = {**FRESH_SHELL, "HOME": str(fresh_checkout)}
    # -o: the shared .venv is installed already; everything else is `make run` as a new user types it.
    make = subprocess.Popen(
        ["make", "-o", ".venv/.installed", "run", f"QAFORGE_PORT={port}"],
        cwd=fresh_checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = make.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if "Ctrl-C stops" in line:
                break
        banner = "\n".join(lines)
        assert f"QAForge is running at http://127.0.0.1:{port}/" in banner, banner
        assert "Log in as demo / demo" in banner
        assert "Worker: ready" in banner
        assert "Applying " not in banner  # no migration lines
        assert lines[-1].startswith("Ctrl-C stops")
        # Printed once the server answers: the address works now.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=10) as response:
            assert response.status == 200
    finally:
        # SIGINT to the whole process group, make included (in a terminal, `manage.py serve` takes the Ctrl-C alone
        # and make ends with 0: tests/test_make_run.py).
        os.killpg(make.pid, signal.SIGINT)
        rest, _ = make.communicate(timeout=60)
    # make ends as the SIGINT it was sent says (the shell shows no message for that), not with "Error 130".
    assert make.returncode in (0, -signal.SIGINT), rest
    assert "QAForge stopped." in rest
    assert "Error" not in rest and "Traceback" not in rest, rest
    leftovers = subprocess.run(["pgrep", "-f", f"-p {port} qaforge.asgi"], capture_output=True, text=True)
    assert leftovers.stdout == ""
