"""The analytics events of renders, and their properties, in one place. Sent after commit."""

from integrations import posthog
from renders.models import RenderJob

FINAL_EVENTS = {
    RenderJob.Status.SUCCEEDED: "render succeeded",
    RenderJob.Status.FAILED: "render failed",
    RenderJob.Status.CANCELLED: "render cancelled",
}


def render_requested(job: RenderJob, *, auto_layout: bool = False) -> None:
    props = job.input_props
    posthog.capture_on_commit(
        "render requested",
        distinct_id=job.owner.clerk_id,
        properties={
            "job_id": str(job.pk),
            "clip_id": str(job.clip.pk),
            "clip_source": job.clip.source,
            "preset": job.preset.slug,
            "layout": props.get("layout"),
            "aspect": props.get("aspect"),
            "length_seconds": round(float(props["trim_end"]) - float(props["trim_start"]), 3),
            "has_title": bool(props.get("title")),
            "caption_style": (props.get("captions") or {}).get("style"),
            "auto_layout": auto_layout,
            "backend": job.backend,
        },
    )


def render_finished(*, job_id, new_status: str, source: str) -> None:
    """One event per real outcome: transitions happen once, however often a webhook arrives."""
    event = FINAL_EVENTS.get(new_status)
    if event is None or not posthog.is_enabled():
        return
    job = RenderJob.objects.select_related("owner", "preset").get(pk=job_id)
    properties = {
        "job_id": str(job.pk),
        "preset": job.preset.slug,
        "backend": job.backend,
        "source": source,
        "attempts": job.attempts,
        "render_seconds": job.render_seconds,
    }
    if new_status == RenderJob.Status.SUCCEEDED:
        properties["cost"] = float(job.cost) if job.cost is not None else None
    elif new_status == RenderJob.Status.FAILED:
        properties["reason"] = job.failure_reason
    posthog.capture_on_commit(event, distinct_id=job.owner.clerk_id, properties=properties)
