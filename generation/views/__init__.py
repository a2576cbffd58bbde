"""Pages and dialogs of generation, one module per feature: `generate` (the generate dialog, queueing),
`reviewing` (the review dialog: open, joined, save, discard, extend; the review-queue button), `job_actions`
(cancel) and `staff_report`; `_shared` holds what several of them use.

Every view answers an HTMX request with a fragment (or an empty body plus HX-Trigger toasts) and a plain request
with a full page or a redirect and a django message, so the basics work without JavaScript.
"""

from generation.views.generate import generate_form, queue
from generation.views.job_actions import cancel
from generation.views.reviewing import discard, extend, review_job, review_joined, review_queue_button, save
from generation.views.staff_report import report

__all__ = [
    "cancel",
    "discard",
    "extend",
    "generate_form",
    "queue",
    "report",
    "review_joined",
    "review_job",
    "review_queue_button",
    "save",
]
