"""The analytics events of clips, and their properties, in one place. Sent after commit."""

from clips.models import Clip, ClipImport, LayoutSuggestion, Transcript
from integrations import posthog


def clip_import_finished(clip_import: ClipImport) -> None:
    succeeded = clip_import.status == ClipImport.Status.SUCCEEDED
    started_at = clip_import.started_at or clip_import.created_at
    posthog.capture_on_commit(
        "clips imported" if succeeded else "clips import failed",
        distinct_id=clip_import.user.clerk_id,
        properties={
            "import_id": str(clip_import.pk),
            "clips_seen": clip_import.clips_seen,
            "clips_created": clip_import.clips_created,
            "clips_updated": clip_import.clips_updated,
            "pages": clip_import.pages_fetched,
            "since": clip_import.since.isoformat(),
            "until": clip_import.until.isoformat(),
            "window_days": round((clip_import.until - clip_import.since).total_seconds() / 86400, 2),
            "duration_seconds": round((clip_import.finished_at - started_at).total_seconds(), 3),
            **({} if succeeded else {"error": clip_import.error[:200]}),
        },
    )


def clip_media_fetched(clip: Clip) -> None:
    posthog.capture_on_commit(
        "clip media fetched",
        distinct_id=clip.owner.clerk_id,
        properties={
            "clip_id": str(clip.pk),
            "duration": clip.media_duration,
            "width": clip.media_width,
            "height": clip.media_height,
            "size_bytes": clip.media_size,
            "has_portrait": clip.has_portrait,
        },
    )


def clip_media_failed(clip: Clip, *, reason: str) -> None:
    posthog.capture_on_commit(
        "clip media failed", distinct_id=clip.owner.clerk_id, properties={"clip_id": str(clip.pk), "reason": reason}
    )


def clip_transcribed(transcript: Transcript) -> None:
    posthog.capture_on_commit(
        "clip transcribed",
        distinct_id=transcript.clip.owner.clerk_id,
        properties={
            "clip_id": str(transcript.clip_id),
            "provider": transcript.provider,
            "language": transcript.language,
            "audio_seconds": round(transcript.audio_seconds or 0, 3),
            "words": len(transcript.words),
        },
    )


def transcript_edited(transcript: Transcript) -> None:
    posthog.capture_on_commit(
        "transcript edited",
        distinct_id=transcript.clip.owner.clerk_id,
        properties={
            "clip_id": str(transcript.clip_id),
            "language": transcript.language,
            "words": len(transcript.words),
        },
    )


def layout_detected(suggestion: LayoutSuggestion) -> None:
    posthog.capture_on_commit(
        "layout detected",
        distinct_id=suggestion.clip.owner.clerk_id,
        properties={
            "clip_id": str(suggestion.clip_id),
            "layout": suggestion.layout,
            "confidence": suggestion.confidence,
            "seconds": suggestion.seconds,
        },
    )
