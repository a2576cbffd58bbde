"""Running jobs: one worker process runs many jobs at once, each under its own lease, fairly chosen.

A job is mostly waiting on the network, so a django-q2 task does not hold its worker process for one job: the task
(`run_task`) claims its own job if it is still queued, then keeps claiming queued jobs while it has room
(QAFORGE_JOBS_PER_WORKER at once) and runs each in a thread of its own (the engine's one `asyncio.run` per job).
The other jobs' own broker tasks, when a worker takes them, find their job already running and stop at once (or
claim whatever is queued then). With 8 workers x 16 jobs a cluster has 128 jobs in flight, so a sprint's 50 stories
all start together; the cluster-wide rate limiter (`generation.ratelimit`) decides how fast their calls go.

Durability is per job, as for a task with one job:
- a job is claimed by a conditional UPDATE that sets this task's lease token; two claimers cannot both win;
- one lease thread per task renews the heartbeat of all its jobs in one UPDATE and notices a job it lost (cancelled,
  or re-queued by the reaper and taken by another run), which then stops between batches;
- every finished batch is checkpointed; suggestions are written in one transaction by the lease holder;
- kill -9 of the worker leaves every job it held "running" with a stale heartbeat: the reaper re-queues each, and a
  re-run asks only the missing batches;
- a stopping worker (SIGTERM, see `generation.worker`) cancels its in-flight calls, hands each job straight back to
  the queue (status queued, attempt not counted, a new broker task) and returns.

Which job next: round-robin across requesters (`fair_order`), so one lead's 100 stories do not hold back another
lead's single story; the same order gives a queued job's "N ahead".

Each submodule answers one question:
- `estimates`: what a selection will cost — its model calls and about how long, behind the work ahead;
- `claims`: which queued job goes next (`fair_order`), how many are ahead of one, and claiming jobs under a lease;
- `lease`: the lease thread that keeps the heartbeat of a task's jobs and notices the ones it lost; how a run writes;
- `one_job`: one claimed job through the engine to its end, its result stored, or handed back (`STOPPING`);
- `entry_points`: the django-q2 task (`run_task`) and one job run here (`run_job`).

The submodules read every name of this package through it, at call time (`runs.STOPPING`, `runs.claim_next(…)`,
`runs._positions`), as `generation.jobs` does: a patch of `generation.runs.X` reaches every reader, as when this was
one module, and `STOPPING` stays the one Event the worker's SIGTERM handler sets.
"""

from generation.runs.claims import (
    POSITIONS_MAX_AGE,
    _claim,
    _claimed,
    _positions,
    _worker_name,
    claim_next,
    fair_order,
    forget_queue_positions,
    jobs_ahead,
    queue_positions,
)
from generation.runs.entry_points import CLAIM_POLL_SECONDS, _pass_on, run_job, run_task
from generation.runs.estimates import (
    DEFAULT_CALL_SECONDS,
    TOKENS_PER_CALL,
    _calls_per_job,
    estimate,
    typical_call_seconds,
    work_ahead,
)
from generation.runs.lease import Lease, _write
from generation.runs.one_job import (
    HANDED_BACK,
    STOPPING,
    Shared,
    _Run,
    _run_claimed,
    _run_held,
    _store_result,
    hand_back,
)

__all__ = [
    "CLAIM_POLL_SECONDS",
    "DEFAULT_CALL_SECONDS",
    "HANDED_BACK",
    "POSITIONS_MAX_AGE",
    "STOPPING",
    "TOKENS_PER_CALL",
    "Lease",
    "Shared",
    "_Run",
    "_calls_per_job",
    "_claim",
    "_claimed",
    "_pass_on",
    "_positions",
    "_run_claimed",
    "_run_held",
    "_store_result",
    "_worker_name",
    "_write",
    "claim_next",
    "estimate",
    "fair_order",
    "forget_queue_positions",
    "hand_back",
    "jobs_ahead",
    "queue_positions",
    "run_job",
    "run_task",
    "typical_call_seconds",
    "work_ahead",
]
