"""Which provider recognises speech, and the one call the captions feature makes."""

from pathlib import Path

from django.conf import settings

from integrations.transcription import deepgram_api, openai_api
from integrations.transcription.recognition import Recognition, TranscriptionError

PROVIDERS = ("openai", "deepgram")


def provider_name() -> str | None:
    """ "openai" or "deepgram"; None when transcription is not configured.

    TRANSCRIPTION_BACKEND when set, else "openai" when TRANSCRIPTION_API_KEY is set.
    """
    backend = settings.TRANSCRIPTION_BACKEND
    if backend:
        if backend not in PROVIDERS:
            # Settings refuse this at start-up; only a test's override gets here.
            raise TranscriptionError(
                f"TRANSCRIPTION_BACKEND must be 'openai' or 'deepgram', not {backend!r}.", code="not_configured"
            )
        return backend
    return "openai" if settings.TRANSCRIPTION_API_KEY else None


def recognise(audio: Path, *, language: str | None = None, content_type: str = "audio/ogg") -> Recognition:
    """The words spoken in `audio` (a file of at most 25 MB for OpenAI), with their times.

    `language` (ISO 639-1) skips detection. Raises TranscriptionError, never returns a partial
    answer; a file that cannot be read raises OSError. Long audio is the caller's to cut
    (TRANSCRIPTION_CHUNK_SECONDS) and to offset.
    """
    provider = provider_name()
    if provider is None:
        raise TranscriptionError(
            "Transcription is not configured: set TRANSCRIPTION_API_KEY (and TRANSCRIPTION_BACKEND for Deepgram).",
            code="not_configured",
        )
    if not settings.TRANSCRIPTION_API_KEY:
        raise TranscriptionError(
            f"TRANSCRIPTION_BACKEND is {provider!r} but TRANSCRIPTION_API_KEY is not set.", code="not_configured"
        )
    language = language.strip() if language else None
    # Read whole (a clip's audio is a few MB at most): a retry must send the same bytes again.
    data = Path(audio).read_bytes()
    if provider == "deepgram":
        return deepgram_api.transcribe(data, content_type=content_type, language=language)
    return openai_api.transcribe(data, filename=Path(audio).name, content_type=content_type, language=language)
