"""Run the web server and the worker side by side in a terminal, and stop both cleanly on Ctrl-C (`manage.py serve`).

What `make run` needs from it, and why this is not honcho (which ran them before):
- Each service starts in a session of its own, so the terminal's Ctrl-C (SIGINT to its foreground process group)
  reaches only this process. It then sends SIGTERM to each service's main process: qcluster's own stop tells its
  workers to hand their running jobs back to the queue at once (generation/worker.py) and waits for them. A signal
  to qcluster's whole process group instead kills django-q2's sentinel before it can stop its workers, and the
  cluster hangs until it is killed (django-q2 issue #346): honcho did that, then waited 5 s and sent SIGKILL.
- It takes the terminal's foreground for its own process group while it runs (as a shell does for a job), so make and
  the shell running the recipe do not get the Ctrl-C either: make ends with this process's status, 0 after a Ctrl-C,
  instead of being killed by SIGINT itself.
- Signal handlers only count signals; the main loop acts on them and prints (honcho printed from its handler and
  crashed with "RuntimeError: reentrant call" when a second Ctrl-C came in the middle of a line).
- A second Ctrl-C, or a service still running after `stop_timeout`, ends what is left at once (SIGKILL to each
  service's process group).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_TIMEOUT_SECONDS = 10.0  # measured: 1.5-2 s with jobs in flight (eight workers)
POLL_SECONDS = 0.1


@dataclass
class Service:
    """One long-running command, e.g. the web server; `name` is how the messages call it ("the worker")."""

    name: str
    argv: list[str]
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self, cwd, env) -> None:
        self.process = subprocess.Popen(
            self.argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        """Signal the service's main process only (never its group: see the module's docstring)."""
        if self.running:
            with suppress(ProcessLookupError):
                self.process.send_signal(signum)

    def kill_group(self) -> None:
        """SIGKILL whatever is left in the service's process group (its session), the main process included."""
        if self.process is not None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Supervisor:
    """Start `services`, call `on_ready(stopping)` in a thread once they are started (the banner: it should return
    early once `stopping` is set), run until a stop signal or until a service ends, then stop them all."""

    def __init__(self, services: list[Service], *, cwd, env, stop_timeout: float = STOP_TIMEOUT_SECONDS):
        self.services = services
        self.cwd = cwd
        self.env = env
        self.stop_timeout = stop_timeout
        self.signals = 0  # stop signals received, counted by the handler; read by the main loop
        self.stopping = threading.Event()

    def _count_signal(self, signum, frame) -> None:
        self.signals += 1

    def run(self, on_ready: Callable[[threading.Event], None] | None = None) -> int:
        """Returns the exit status: 0 after a stop signal (also when a second one cut the stop short), 1 if a service
        ended by itself or had to be killed after `stop_timeout`."""
        previous = {signum: signal.signal(signum, self._count_signal) for signum in STOP_SIGNALS}
        try:
            with terminal_foreground():
                return self._run(on_ready)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _run(self, on_ready) -> int:
        status = 0
        try:
            for service in self.services:
                service.start(self.cwd, self.env)
            if on_ready is not None:
                threading.Thread(target=self._ready, args=(on_ready,), name="qaforge-ready", daemon=True).start()
            ended = self._wait_for_signal_or_end()
            if ended is not None:
                say(f"QAForge: {ended.name} ended (status {ended.process.returncode}); stopping the rest.")
                status = 1
        finally:
            self.stopping.set()
            if not self._stop():
                status = 1
        say("QAForge stopped.")
        return status

    def _ready(self, on_ready) -> None:
        try:
            on_ready(self.stopping)
        except Exception:
            if not self.stopping.is_set():
                raise  # a real failure; one cut short by the stop (e.g. its database read) is not worth a traceback

    def _wait_for_signal_or_end(self) -> Service | None:
        while not self.signals:
            for service in self.services:
                if not service.running:
                    return service
            time.sleep(POLL_SECONDS)
        return None

    def _stop(self) -> bool:
        """SIGTERM to each service, then wait; a second signal or the timeout kills what is left. True if every
        service stopped by itself (or the second signal asked to cut the stop short)."""
        if any(service.running for service in self.services):
            say("Stopping QAForge: running jobs go back to the queue (Ctrl-C again to stop at once)…")
        # The signal that started the stop is the first; one more cuts it short (any, if a service's end started it).
        force_at = 2 if self.signals else 1
        for service in self.services:
            service.signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        clean = True
        while any(service.running for service in self.services):
            if self.signals >= force_at:
                say("QAForge: stopping at once.")
                break
            if time.monotonic() > deadline:
                names = " and ".join(service.name for service in self.services if service.running)
                say(f"QAForge: {names} did not stop within {self.stop_timeout:.0f} s; ending it at once.")
                clean = False
                break
            time.sleep(POLL_SECONDS)
        for service in self.services:
            service.kill_group()  # leftovers of a stop cut short, or a worker process its cluster left behind
        return clean


@contextmanager
def terminal_foreground():
    """Make this process's own process group the terminal's foreground group for the block, then give the terminal
    back to the group that had it. Without a controlling terminal, or when not in the foreground (started with `&`),
    it does nothing."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        yield
        return
    try:
        original = os.tcgetpgrp(tty)
        if original != os.getpgrp():
            yield
            return
        if os.getpgrp() != os.getpid():
            os.setpgid(0, 0)
        _set_foreground(tty, os.getpgrp())
        try:
            yield
        finally:
            _set_foreground(tty, original)
    finally:
        os.close(tty)


def _set_foreground(tty: int, pgrp: int) -> None:
    # A background group that sets the foreground gets SIGTTOU (which would stop it) unless it ignores the signal.
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        with suppress(OSError):  # the group that had the terminal is gone: the shell takes it back anyway
            os.tcsetpgrp(tty, pgrp)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def say(line: str) -> None:
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except OSError:
        pass  # the terminal is gone (closed window: SIGHUP); the services must be stopped all the same
