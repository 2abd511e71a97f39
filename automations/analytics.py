"""The analytics events of automations, and their properties, in one place. Sent after commit."""

from automations.models import AutomationRun, Stream
from integrations import posthog


def stream_ended(stream: Stream) -> None:
    seconds = (stream.ended_at - stream.started_at).total_seconds() if stream.ended_at else None
    posthog.capture_on_commit(
        "stream ended",
        distinct_id=stream.user.clerk_id,
        properties={"stream_id": str(stream.pk), "stream_seconds": round(seconds) if seconds else None},
    )


def automation_batch_finished(*, automation, batch: str, runs: list[AutomationRun]) -> None:
    Status = AutomationRun.Status
    posthog.capture_on_commit(
        "automation run finished",
        distinct_id=automation.owner.clerk_id,
        properties={
            "automation_id": str(automation.pk),
            "batch": batch,
            "clips_matched": len(runs),
            "rendered": sum(run.render_id is not None and run.step in ("publish", "done") for run in runs),
            "published": sum(bool(run.publication_ids) for run in runs),
            "failed": sum(run.status == Status.FAILED for run in runs),
            "limited": sum(run.status == Status.LIMITED for run in runs),
        },
    )
