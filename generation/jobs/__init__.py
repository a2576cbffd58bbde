"""Generation jobs: queue, reap, cancel, review and save — the one workflow every caller goes through.

The page, the JSON API, the `generate_tests` command and the admin all call these functions as `jobs.<name>`; how
jobs run (many per worker process, each under a lease) is `generation.runs`, reached from the django-q2 task in
`generation.tasks`. Job state lives in the database so any process can read it. Each submodule answers one question:

- `queue`: asking for a job — validate and queue one for a story, queue a stopped one again, run one here, and which
  job is each story's latest;
- `broker`: how jobs reach the broker — one task, or many in one round trip (`enqueue_together`);
- `reaper`: which jobs lost their worker or their queue task — re-queue them, or fail them after too many attempts;
- `saving`: what a review keeps — edit or delete a suggestion, save the reviewed ones as test cases;
- `state`: how a job ends — cancel, discard, fail under a condition; the clock and the log line all of them use;
- `errors`: what a request can be refused with, worded for a person.

The submodules read the clock and write the log line as `jobs._now()` and `jobs._transition()`, through this
package as `generation.runs` does, so patching `generation.jobs._now` reaches every caller.

Durability rules (django-q2 delivers at least once, and the Redis broker loses a task whose worker dies):
- a run claims its job with a conditional UPDATE (a lease renewed by a heartbeat); a second delivery stops at once;
- every finished batch is checkpointed, so a re-run requests only the missing batches;
- suggestions are written in one transaction by the lease holder, after deleting any earlier ones;
- the reaper re-queues jobs whose heartbeat went stale or whose queue task vanished, up to a maximum of attempts.
"""

from generation.jobs.broker import _queue_task, enqueue_together
from generation.jobs.errors import QUEUE_UNREACHABLE, JobStateError, QueueError, SuggestionErrors
from generation.jobs.queue import latest_jobs_for, queue_generation, requeue_job, run_job
from generation.jobs.reaper import reap_stale_jobs
from generation.jobs.saving import delete_suggestion, edit_suggestion, save_reviewed, save_suggestions
from generation.jobs.state import _finish, _now, _transition, back_to_review, cancel_job, discard_job

__all__ = [
    "QUEUE_UNREACHABLE",
    "JobStateError",
    "QueueError",
    "SuggestionErrors",
    "_finish",
    "_now",
    "_queue_task",
    "_transition",
    "back_to_review",
    "cancel_job",
    "delete_suggestion",
    "discard_job",
    "edit_suggestion",
    "enqueue_together",
    "latest_jobs_for",
    "queue_generation",
    "reap_stale_jobs",
    "requeue_job",
    "run_job",
    "save_reviewed",
    "save_suggestions",
]
