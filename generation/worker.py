"""A graceful stop for `manage.py qcluster`: SIGTERM (or Ctrl-C) hands every running job back to the queue at once.

django-q2 stops a cluster by letting each worker finish its current task, which for a worker running many jobs could
take minutes; killed instead, its jobs would wait for the reaper's stale timeout. So, installed in the qcluster
process before it forks (`GenerationConfig.ready`):
- every worker process catches SIGTERM: it sets `runs.STOPPING`, its running jobs cancel their in-flight calls and go
  back to the queue with their checkpoints and a new broker task (`runs.hand_back`), and once it is idle the process
  exits (raising SystemExit in its main thread, so django-q2's queues are left in order);
- the sentinel, when the cluster stops (SIGTERM or SIGINT to `qcluster`), sends SIGTERM to its workers first.
A SIGTERM to the whole process group (which kills the sentinel outright) works the same way for the workers.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

from generation import runs

log = logging.getLogger("qaforge.jobs")

IDLE_BEFORE_EXIT_SECONDS = 0.3  # lets django-q2 put the last task's result on its queue before the worker exits
_busy = threading.Event()  # a task is running in this worker process (django-q2 runs one at a time)


def install() -> None:
    """Hook the cluster's stop and its workers' start. Call once, in the qcluster process."""
    from django_q import signals
    from django_q.cluster import Sentinel

    signals.post_spawn.connect(_worker_started, dispatch_uid="qaforge-graceful-stop")
    signals.pre_execute.connect(_task_starts, dispatch_uid="qaforge-task-starts")
    signals.post_execute_in_worker.connect(_task_ends, dispatch_uid="qaforge-task-ends")
    if not getattr(Sentinel.stop, "qaforge", False):
        original = Sentinel.stop

        def stop(sentinel) -> None:
            for process in list(sentinel.pool):
                try:
                    os.kill(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            original(sentinel)

        stop.qaforge = True
        Sentinel.stop = stop


def _worker_started(sender, proc_name=None, **kwargs) -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)


def _task_starts(sender, **kwargs) -> None:
    _busy.set()


def _task_ends(sender, **kwargs) -> None:
    _busy.clear()


def _on_sigterm(signum, frame) -> None:
    if not runs.STOPPING.is_set():
        runs.STOPPING.set()
        if _busy.is_set():  # an idle worker has nothing to say (`make run` starts eight)
            log.info("worker %s stopping: handing its running jobs back to the queue", os.getpid())
        threading.Thread(target=_exit_when_idle, name="qaforge-stop", daemon=True).start()
    if not _busy.is_set():
        raise SystemExit(0)  # in the main thread, idle (waiting for a task): leave now


def _exit_when_idle() -> None:
    """The task running when SIGTERM came is handing its jobs back; once it has returned, signal again to leave."""
    idle_since = None
    while True:
        time.sleep(0.1)
        if _busy.is_set():
            idle_since = None
            continue
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since >= IDLE_BEFORE_EXIT_SECONDS:
            os.kill(os.getpid(), signal.SIGTERM)
            return
