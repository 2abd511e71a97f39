"""`render_transition` announces every state change of a render job; receivers do the side effects."""

import contextlib

import django.dispatch
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from procrastinate.exceptions import AlreadyEnqueued

from renders.models import RenderJob

# Sent inside the transaction that made the change, with job (up to date), job_id, old_status,
# new_status and source.
render_transition = django.dispatch.Signal()


@receiver(post_save, sender=RenderJob, dispatch_uid="renders.queue_dispatch_on_create")
def queue_dispatch_on_create(sender, instance: RenderJob, created: bool, **kwargs) -> None:
    if created:
        from renders.tasks import dispatch_render

        # procrastinate writes the job row in this transaction: a rollback enqueues nothing.
        dispatch_render.defer(job_id=str(instance.pk))


@receiver(render_transition, dispatch_uid="renders.after_transition")
def after_transition(sender, job: RenderJob, job_id, old_status: str, new_status: str, source: str, **kwargs) -> None:
    from renders.tasks import copy_render_output

    if new_status == RenderJob.Status.SUCCEEDED and job.output_url and not job.output_file:
        copy_render_output.defer(job_id=str(job_id))
    if old_status == RenderJob.Status.RENDERING:
        # A slot is free: start whoever waits. After commit, so concurrent webhooks do not
        # queue behind each other's lock on the one waiting "dispatch_waiting_renders" job.
        transaction.on_commit(_queue_waiting_dispatches)


def _queue_waiting_dispatches() -> None:
    from renders.tasks import dispatch_waiting_renders

    if RenderJob.objects.filter(status=RenderJob.Status.QUEUED).exists():
        with contextlib.suppress(AlreadyEnqueued):
            dispatch_waiting_renders.configure(queueing_lock="dispatch_waiting_renders").defer()


FINAL_EVENTS = {
    RenderJob.Status.SUCCEEDED: "render succeeded",
    RenderJob.Status.FAILED: "render failed",
    RenderJob.Status.CANCELLED: "render cancelled",
}


@receiver(render_transition, dispatch_uid="renders.announce_outcome")
def announce_outcome(sender, job_id, old_status: str, new_status: str, source: str, **kwargs) -> None:
    """One analytics event per real outcome: transitions happen once, however often a webhook arrives."""
    from integrations import posthog

    event = FINAL_EVENTS.get(new_status)
    if event is None or not posthog.is_enabled():
        return
    job = RenderJob.objects.select_related("owner", "preset").get(pk=job_id)
    started = job.dispatched_at or job.created_at
    properties = {
        "job_id": str(job.pk),
        "preset": job.preset.slug,
        "backend": job.backend,
        "source": source,
        "attempts": job.attempts,
        "render_seconds": round((job.finished_at - started).total_seconds(), 3) if job.finished_at else None,
    }
    if new_status == RenderJob.Status.SUCCEEDED:
        properties["cost"] = float(job.cost) if job.cost is not None else None
    elif new_status == RenderJob.Status.FAILED:
        properties["reason"] = job.failure_reason
    posthog.capture_on_commit(event, distinct_id=job.owner.clerk_id, properties=properties)
