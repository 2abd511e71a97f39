"""Deepgram's pre-recorded `/listen` endpoint at DEEPGRAM_API_URL, with the raw audio as the body.

Plain `requests` through `integrations.http.request_with_retries`, like the OpenAI client (no SDK).
"""

from django.conf import settings

from integrations.transcription.recognition import (
    Recognition,
    invalid_response,
    iso_code,
    json_answer,
    make_words,
    optional_seconds,
    send,
)

SERVICE = "Deepgram"


def transcribe(audio: bytes, *, content_type: str, language: str | None) -> Recognition:
    params = {"model": settings.DEEPGRAM_MODEL, "smart_format": "true"}
    if language:
        params["language"] = language
    else:
        params["detect_language"] = "true"
    response = send(
        SERVICE,
        f"{settings.DEEPGRAM_API_URL}/listen",
        params=params,
        headers={"Authorization": f"Token {settings.TRANSCRIPTION_API_KEY}", "Content-Type": content_type},
        data=audio,
    )
    body = json_answer(SERVICE, response)
    try:
        channel = body["results"]["channels"][0]
        alternative = channel["alternatives"][0]
        entries = alternative["words"]
    except (KeyError, IndexError, TypeError) as exc:
        raise invalid_response(SERVICE, "no results.channels[0].alternatives[0].words") from exc
    metadata = body.get("metadata")
    return Recognition(
        language=iso_code(language) or iso_code(channel.get("detected_language")),
        # smart_format puts the capitals and punctuation in `punctuated_word` only.
        words=make_words(SERVICE, entries, text_key="punctuated_word", fallback_key="word"),
        duration=optional_seconds(metadata.get("duration")) if isinstance(metadata, dict) else None,
    )
