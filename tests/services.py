"""Helpers for tests that start real processes (daphne, qcluster) against the test database."""

from __future__ import annotations

import os
import pty
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def database_url() -> str:
    """A DATABASE_URL naming the database the current test is using (the test database, not the real one)."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    user = s.get("USER") or ""
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def django_env(**extra: str) -> dict[str, str]:
    """Environment for a subprocess that must see the same settings and the same test database as this test."""
    env = dict(os.environ)
    # Set for the test process only (playwright's sync API keeps an event loop in the test thread).
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "qaforge.settings",
            "DATABASE_URL": database_url(),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Daphne:
    """`daphne qaforge.asgi:application` in a subprocess on a port of its own, with the test settings and database
    (`django_env`) and `env` on top; its output goes to `log_path`. stop()/start()/restart() keep the port, so a page
    or a client that is connected can reconnect to the new process."""

    def __init__(self, log_path: Path, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path)
        self.env = env
        self.process: subprocess.Popen | None = None

    def __str__(self) -> str:
        return self.url

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        with open(self.log_path, "a") as log:
            log.write(f"---- starting daphne on port {self.port} ----\n")
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "qaforge.asgi:application"],
                cwd=ROOT,
                env=django_env(**self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C reaches the test run, which stops the server in order
            )
        try:
            wait_for_port(self.port, timeout=timeout, process=self.process)
        except (RuntimeError, TimeoutError) as error:
            self.stop()
            raise RuntimeError(f"daphne did not start: {error}\n{self.log()[-4000:]}") from error

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""


@contextmanager
def running_daphne(log_path: Path | None = None, **env: str):
    """A `Daphne` for the duration of the block (its log in a temporary file unless `log_path` is given); yields its
    base URL. The log is printed when the block raises."""
    with tempfile.TemporaryDirectory(prefix="qaforge-daphne-") as tmp:
        server = Daphne(log_path or Path(tmp) / "daphne.log", **env)
        server.start()
        try:
            yield server.url
        except Exception:
            sys.stderr.write(f"---- daphne log ----\n{server.log()[-6000:]}\n")
            raise
        finally:
            server.stop()


class Terminal:
    """`argv` run as the foreground job of a terminal of its own (a pseudo-terminal), as a person runs a command in a
    terminal window: `ctrl_c()` types Ctrl-C, which makes the terminal send SIGINT to its foreground process group;
    `output` is what the window shows."""

    def __init__(self, argv: list[str], *, cwd, env: dict[str, str]):
        self._master, slave = pty.openpty()
        # setsid --ctty: a new session whose controlling terminal is the pseudo-terminal, `argv` its foreground job.
        self.process = subprocess.Popen(
            ["setsid", "--ctty", *argv], cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, close_fds=True
        )
        os.close(slave)
        self._output = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: every process that had the terminal open has ended
                return
            if not chunk:
                return
            self._output.extend(chunk)

    @property
    def output(self) -> str:
        return bytes(self._output).decode("utf-8", errors="replace").replace("\r\n", "\n")

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"{text!r} not shown after {timeout:.0f} s:\n{self.output[-4000:]}")
            time.sleep(0.05)

    def ctrl_c(self) -> None:
        os.write(self._master, b"\x03")

    def foreground_group(self) -> int:
        return os.tcgetpgrp(self._master)

    def wait(self, timeout: float) -> int:
        """The command's exit status once it ends (TimeoutExpired if it runs longer than `timeout`)."""
        status = self.process.wait(timeout)
        self._reader.join(5)
        return status

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._reader.join(5)
        os.close(self._master)


class FrozenRedis:
    """A TCP server that accepts connections and never answers: a Redis that is up but stuck."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                accepted, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(accepted)

    def close(self) -> None:
        for accepted in self.connections:
            accepted.close()
        self.server.close()
