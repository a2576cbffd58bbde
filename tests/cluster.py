"""Start the real django-q2 cluster (`manage.py qcluster`) as a subprocess against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest

from tests.services import ROOT, django_env


class Cluster:
    def __init__(self, process: subprocess.Popen, log_path):
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        try:
            return open(self.log_path, encoding="utf-8", errors="replace").read()
        except OSError:
            return ""

    def worker_pids(self) -> list[int]:
        """Pids of the processes below the cluster's sentinel (workers, pusher, monitor)."""
        out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
        children: dict[int, list[int]] = {}
        for line in out.splitlines():
            pid, ppid = (int(x) for x in line.split())
            children.setdefault(ppid, []).append(pid)
        result, todo = [], list(children.get(self.process.pid, []))
        while todo:
            pid = todo.pop()
            result.append(pid)
            todo.extend(children.get(pid, []))
        return result


@contextmanager
def running_cluster(tmp_path, **env):
    """A real qcluster for the duration of the block; its log is printed when the block raises."""
    log_path = tmp_path / "qcluster.log"
    settings_env = {"QAFORGE_WORKERS": "4", "QAFORGE_QUEUE_POLL": "0.1", **env}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=django_env(**settings_env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    cluster = Cluster(process, log_path)
    try:
        yield cluster
    except BaseException:
        sys.stderr.write("---- qcluster log ----\n" + cluster.log()[-6000:] + "\n")
        raise
    finally:
        stop(process)


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a `qcluster` as systemd's or docker's `stop` does: SIGTERM to the qcluster process, whose graceful stop
    takes about two seconds; whatever is left after `timeout` is killed with its process group.

    Not SIGTERM to the whole group: that kills django-q2's sentinel outright, and the qcluster process then blocks
    for ever in the stop event's set() (django-q2 1.11.1, see django-q2 issue #346), so every stop cost the full
    timeout and a SIGKILL."""
    try:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # stragglers of a stop that hung, or workers left behind
    except ProcessLookupError:
        pass
    process.wait(timeout=5)


def module_cluster(**env):
    """A module-scoped `cluster` fixture: one real qcluster (starting one costs seconds) with `env`, pointed at the
    module's `fake` Gemini server. Tables are flushed between tests; the cluster reads the database afresh per task."""

    @pytest.fixture(scope="module")
    def cluster(django_db_setup, django_db_blocker, tmp_path_factory, fake):
        with django_db_blocker.unblock():
            with running_cluster(tmp_path_factory.mktemp("qcluster"), GEMINI_BASE_URL=fake.url, **env) as c:
                yield c

    return cluster


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
