"""`render_transition` announces every state change of a render job; receivers do the side effects."""

import django.dispatch
from django.db import transaction
from django.dispatch import receiver

from core.queue import defer
from renders import analytics
from renders.models import RenderJob

# Sent inside the transaction that made the change, with job (up to date), job_id, old_status,
# new_status and source.
render_transition = django.dispatch.Signal()


@receiver(render_transition, dispatch_uid="renders.after_transition")
def after_transition(sender, job: RenderJob, job_id, old_status: str, new_status: str, source: str, **kwargs) -> None:
    if new_status == RenderJob.Status.SUCCEEDED and job.output_url and not job.output_file:
        defer("renders.tasks.copy_render_output", job_id=str(job_id))
    if old_status == RenderJob.Status.RENDERING:
        # A slot is free: start whoever waits. After commit, so concurrent webhooks do not
        # queue behind each other's lock on the one waiting "dispatch_waiting_renders" job.
        transaction.on_commit(_queue_waiting_dispatches)


def _queue_waiting_dispatches() -> None:
    if RenderJob.objects.filter(status=RenderJob.Status.QUEUED).exists():
        defer("renders.tasks.dispatch_waiting_renders", queueing_lock="dispatch_waiting_renders")


@receiver(render_transition, dispatch_uid="renders.announce_outcome")
def announce_outcome(sender, job_id, old_status: str, new_status: str, source: str, **kwargs) -> None:
    analytics.render_finished(job_id=job_id, new_status=new_status, source=source)
