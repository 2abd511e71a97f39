"""Reads of clips for other apps: they reach clips only through here."""

from django.db.models import QuerySet

from accounts.models import User
from clips.models import Clip, LayoutSuggestion, Transcript


def clips_owned_by(*, user: User | None) -> QuerySet[Clip]:
    """The user's clips; none for an anonymous or missing user, so a stranger's id looks unknown."""
    if user is None or not user.is_authenticated:
        return Clip.objects.none()
    return Clip.objects.filter(owner=user)


def transcript_words_in_window(*, clip: Clip, start: float, end: float) -> list[dict] | None:
    """The ready transcript's words that overlap [start, end), shifted to start at 0; None if not ready."""
    transcript = Transcript.objects.filter(clip=clip, status=Transcript.Status.READY).first()
    if transcript is None:
        return None
    window = []
    for word in transcript.words:
        if word["end"] <= start or word["start"] >= end:
            continue
        shifted_start = round(max(word["start"], start) - start, 3)
        shifted_end = round(min(word["end"], end) - start, 3)
        if shifted_end > shifted_start:
            window.append({"text": word["text"], "start": shifted_start, "end": shifted_end})
    return window


def layout_suggestion_ready(*, clip: Clip) -> dict | None:
    """The clip's detected layout in the layout spec's terms, or None until detection is ready."""
    suggestion = LayoutSuggestion.objects.filter(clip=clip, status=LayoutSuggestion.Status.READY).first()
    return suggestion.as_spec() if suggestion else None
