"""The analytics events of publishing, and their properties, in one place. Sent after commit."""

from integrations import posthog
from publishing.models import Publication


def publication_requested(publication: Publication) -> None:
    posthog.capture_on_commit(
        "publication requested",
        distinct_id=publication.owner.clerk_id,
        properties={
            "publication_id": str(publication.pk),
            "render_id": str(publication.render_id),
            "platform": publication.platform,
            "privacy": publication.privacy,
            "scheduled": publication.scheduled_at is not None,
        },
    )


def publication_transitioned(publication: Publication) -> None:
    """One event per real outcome: a transition happens once, however often its step runs."""
    properties = {"publication_id": str(publication.pk), "platform": publication.platform}
    if publication.status == Publication.Status.PUBLISHED:
        event = "render published"
        properties["render_id"] = str(publication.render_id)
        properties["seconds_to_publish"] = round((publication.published_at - publication.created_at).total_seconds(), 3)
        properties["scheduled"] = publication.scheduled_at is not None
    elif publication.status == Publication.Status.FAILED:
        event = "publication failed"
        properties["reason"] = publication.failure_reason
    else:
        return
    posthog.capture_on_commit(event, distinct_id=publication.owner.clerk_id, properties=properties)
