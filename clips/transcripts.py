"""Transcripts: a time for every word of a clip, recognised by a provider or typed by the creator.

A clip has one current transcript. Recognition runs on the queue: the clip's audio is
extracted with the bundled ffmpeg, cut into TRANSCRIPTION_CHUNK_SECONDS pieces when long, sent
to the configured provider, and the word times are stitched back. Every run ends `ready` or
`failed` with a reason, never stuck `running`.
"""

import logging
import math
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.features import plan_limits
from accounts.models import User
from accounts.services import user_row_lock
from clips import analytics
from clips.media import AUDIO_CONTENT_TYPE, NotAVideo, extract_audio
from clips.models import Clip, Transcript, TranscriptionRun
from core.errors import Conflict, NotFound, ServiceError, Unavailable
from core.locks import advisory_lock, update_rows_nobody_runs
from core.periods import current_month
from core.queue import defer
from core.workdirs import local_copy, work_folder
from integrations import transcription

logger = logging.getLogger(__name__)

MAX_WORDS = 5000
MAX_WORD_LENGTH = 64
# Words a chunk reports past its end are dropped in favour of the next chunk's, which heard them whole.
CHUNK_OVERLAP_SECONDS = 2.0
STALLED_AFTER = timedelta(minutes=30)
# A run holds the lock "RUN_LOCK:<id>" while it works; recovery fails only rows whose lock is free.
RUN_LOCK = "transcript"


class TranscriptLimitExceeded(ServiceError):
    status = 429
    default_code = "transcription_limit_reached"


class InvalidTranscript(ServiceError):
    default_code = "validation_error"


# --- Requests ---------------------------------------------------------------------------------


def transcript_request(*, clip: Clip, language: str = "") -> Transcript:
    """Queue a recognition of the clip's audio. 409 while one runs or before the media is ready."""
    if clip.media_status != Clip.MediaStatus.READY or not clip.media_file:
        raise Conflict("The clip's video is not ready: fetch or upload it first.", code="media_not_ready")
    provider = transcription.provider_name()
    if provider is None:
        raise Unavailable(
            "Speech recognition is not configured on this server; you can still type the captions.",
            code="transcription_not_configured",
        )
    with transaction.atomic():
        # Serialises one user's requests, so two cannot both take the last minutes of the month.
        user_row_lock(user_id=clip.owner_id)
        transcript = Transcript.objects.get_or_create(clip=clip)[0]
        # A transcript never asked for (just made here) has no request time: it may start too.
        startable = Q(requested_at__isnull=True) | ~Q(status__in=Transcript.ACTIVE_STATUSES)
        started = Transcript.objects.filter(startable, pk=transcript.pk).update(
            status=Transcript.Status.PENDING,
            requested_language=language,
            error="",
            requested_at=timezone.now(),
            started_at=None,
            finished_at=None,
        )
        if not started:
            raise Conflict("A transcription of this clip is already running.", code="transcription_in_progress")
        # After the running check: a clip already being recognised answers 409, not 429. A refusal
        # rolls the start above back.
        transcript_limits_check(owner=clip.owner, seconds=clip.seconds)
        run = TranscriptionRun.objects.create(
            transcript=transcript, owner=clip.owner, provider=provider, audio_seconds=clip.seconds
        )
        defer("clips.tasks.transcribe_clip", transcript_id=str(transcript.pk), run_id=run.pk)
    transcript.refresh_from_db()
    return transcript


def transcript_limits_check(*, owner: User, seconds: float) -> None:
    """The render-limits flag payload may cap `monthly_transcription_minutes`; call with the owner's row locked."""
    monthly = plan_limits(owner).get("monthly_transcription_minutes")
    if not isinstance(monthly, int) or isinstance(monthly, bool):
        return
    month_start, resets_at = current_month()
    used_seconds = (
        TranscriptionRun.objects.filter(owner=owner, created_at__gte=month_start)
        .exclude(outcome="failed")
        .aggregate(total=Sum("audio_seconds"))["total"]
        or 0
    )
    used = math.ceil(used_seconds / 60)
    if math.ceil((used_seconds + seconds) / 60) > monthly:
        raise TranscriptLimitExceeded(
            f"You have used {used} of your {monthly} transcription minutes this month; "
            f"the limit resets on {resets_at:%Y-%m-%d}.",
            details={"limit": monthly, "used": used, "resets_at": resets_at.isoformat()},
        )


# --- Recognition (the queue job) --------------------------------------------------------------------


def transcript_recognise(*, transcript_id: str, run_id: int | None = None) -> Transcript | None:
    """Run one queued recognition. At most one run of a transcript is live; any failure ends it `failed`."""
    with advisory_lock(f"{RUN_LOCK}:{transcript_id}") as acquired:
        if not acquired:
            return None  # another worker runs it right now
        claimed = Transcript.objects.filter(pk=transcript_id, status=Transcript.Status.PENDING).update(
            status=Transcript.Status.RUNNING, started_at=timezone.now()
        )
        transcript = Transcript.objects.select_related("clip__owner").filter(pk=transcript_id).first()
        if not claimed or transcript is None:
            return transcript  # edited, finished or deleted meanwhile
        try:
            recognition, audio_seconds = _recognise_clip(transcript)
        except Exception as exc:
            return _fail(transcript, exc, run_id=run_id)
        return _store_recognition(transcript, recognition, audio_seconds=audio_seconds, run_id=run_id)


def _recognise_clip(transcript: Transcript) -> tuple[transcription.Recognition, float]:
    clip = transcript.clip
    duration = clip.seconds
    chunk = float(settings.TRANSCRIPTION_CHUNK_SECONDS)
    language = transcript.requested_language or None
    pieces: list[tuple[float, float, transcription.Recognition]] = []
    with work_folder("transcribe") as folder:
        source = local_copy(clip.media_file, folder / "source")
        offsets = [index * chunk for index in range(max(1, math.ceil(duration / chunk)))]
        for index, offset in enumerate(offsets):
            audio = extract_audio(
                source, folder / f"audio-{index}.ogg", start=offset, seconds=chunk + CHUNK_OVERLAP_SECONDS
            )
            recognised = transcription.recognise(audio, language=language, content_type=AUDIO_CONTENT_TYPE)
            pieces.append((offset, offset + chunk, recognised))
            language = language or recognised.language or None
    return stitch_chunks(pieces), duration


def stitch_chunks(pieces: list[tuple[float, float, transcription.Recognition]]) -> transcription.Recognition:
    """One recognition from chunk recognitions: each chunk's times offset, each word kept once.

    A chunk keeps the words that start inside its own window; the overlap past its end belongs to
    the next chunk (the last chunk keeps everything).
    """
    words: list[transcription.Word] = []
    for number, (offset, window_end, recognised) in enumerate(pieces):
        last = number == len(pieces) - 1
        for word in recognised.words:
            start, end = word.start + offset, word.end + offset
            # A word the previous chunk heard whole may come back as a fragment: never two overlapping words.
            if (last or start < window_end) and (not words or start >= words[-1].end - 0.0005):
                words.append(transcription.Word(text=word.text, start=start, end=end))
    language = next((recognised.language for _, _, recognised in pieces if recognised.language), "")
    return transcription.Recognition(language=language, words=tuple(words), duration=None)


def _store_recognition(
    transcript: Transcript, recognition: transcription.Recognition, *, audio_seconds: float, run_id: int | None
) -> Transcript:
    words = clean_words(
        [{"text": w.text, "start": w.start, "end": w.end} for w in recognition.words],
        duration=transcript.clip.seconds,
    )
    provider = transcription.provider_name() or ""
    with transaction.atomic():
        stored = Transcript.objects.filter(pk=transcript.pk, status=Transcript.Status.RUNNING).update(
            status=Transcript.Status.READY,
            source=Transcript.Source.RECOGNISED,
            words=words,
            language=recognition.language[:16],
            provider=provider,
            audio_seconds=audio_seconds,
            error="",
            finished_at=timezone.now(),
        )
        _finish_run(run_id, outcome="ready" if stored else "discarded", audio_seconds=audio_seconds)
        transcript.refresh_from_db()
        if stored:
            analytics.clip_transcribed(transcript)
    return transcript


def _fail(transcript: Transcript, exc: Exception, *, run_id: int | None) -> Transcript:
    if isinstance(exc, transcription.TranscriptionError):
        message = f"Speech recognition failed: {exc}"
    elif isinstance(exc, NotAVideo):
        message = "The clip has no audio we can read."
    else:
        logger.exception("Transcription of %s failed unexpectedly", transcript.pk)
        message = f"Speech recognition failed unexpectedly ({type(exc).__name__}). Try again."
    with transaction.atomic():
        Transcript.objects.filter(pk=transcript.pk, status=Transcript.Status.RUNNING).update(
            status=Transcript.Status.FAILED, error=message[:2000], finished_at=timezone.now()
        )
        _finish_run(run_id, outcome="failed")
    transcript.refresh_from_db()
    return transcript


def _finish_run(run_id: int | None, *, outcome: str, audio_seconds: float | None = None) -> None:
    if run_id is None:
        return
    changes = {"outcome": outcome, **({"audio_seconds": audio_seconds} if audio_seconds is not None else {})}
    TranscriptionRun.objects.filter(pk=run_id).update(**changes)


def transcripts_recover_stalled(*, older_than: timedelta = STALLED_AFTER) -> list[str]:
    """Fail recognitions whose worker died (running too long, nobody holding their lock), for a retry."""
    stalled = Transcript.objects.filter(status=Transcript.Status.RUNNING, started_at__lt=timezone.now() - older_than)
    recovered = update_rows_nobody_runs(
        stalled,
        lock_prefix=RUN_LOCK,
        status=Transcript.Status.FAILED,
        error="The recognition's worker stopped; ask for it again.",
        finished_at=timezone.now(),
    )
    # Their runs end failed too, as _fail would have ended them: failed runs use no minutes.
    TranscriptionRun.objects.filter(transcript_id__in=recovered, outcome="queued").update(outcome="failed")
    return recovered


def transcript_get(*, clip: Clip) -> Transcript:
    """The clip's transcript; 404 `no_transcript` when none was ever asked for or typed."""
    transcript = Transcript.objects.filter(clip=clip).first()
    if transcript is None:
        raise NotFound("This clip has no transcript yet: ask for one, or type the words.", code="no_transcript")
    return transcript


# --- The creator's corrections --------------------------------------------------------------------


def transcript_replace(*, clip: Clip, words: list[dict], language: str | None = None) -> Transcript:
    """Replace the words with the creator's; the rules are checked here, whoever calls."""
    cleaned = validate_words(words, duration=clip.seconds)
    with transaction.atomic():
        transcript = Transcript.objects.get_or_create(clip=clip)[0]
        transcript = Transcript.objects.select_for_update().get(pk=transcript.pk)
        if transcript.status in Transcript.ACTIVE_STATUSES and transcript.requested_at is not None:
            raise Conflict(
                "A transcription of this clip is running; edit its words once it is done.",
                code="transcription_in_progress",
            )
        transcript.words = cleaned
        transcript.status = Transcript.Status.READY
        transcript.source = Transcript.Source.EDITED
        transcript.error = ""
        if language is not None:
            transcript.language = language
        transcript.finished_at = timezone.now()
        transcript.save()
        analytics.transcript_edited(transcript)
    return transcript


def validate_words(words: list[dict], *, duration: float) -> list[dict]:
    """The creator's words, checked: 0 ≤ start < end ≤ duration, in order, no overlap, clean text.

    Raises InvalidTranscript with per-word details in the API's validation-error shape.
    """
    if len(words) > MAX_WORDS:
        raise InvalidTranscript("The request has invalid fields.", details={"words": [f"At most {MAX_WORDS} words."]})
    problems: dict[str, dict[str, list[str]]] = {}
    previous_end = 0.0
    for index, word in enumerate(words):
        problem = _word_problem(word, duration=duration, previous_end=previous_end)
        if problem:
            field, message = problem
            problems[str(index)] = {field: [message]}
        else:
            previous_end = word["end"]
    if problems:
        raise InvalidTranscript("The request has invalid fields.", details={"words": problems})
    return clean_words(words, duration=duration)


def _word_problem(word: dict, *, duration: float, previous_end: float) -> tuple[str, str] | None:
    text = word.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_WORD_LENGTH:
        return "text", f"Between 1 and {MAX_WORD_LENGTH} characters."
    if any(unicodedata.category(character) == "Cc" for character in text):
        return "text", "Control characters are not allowed."
    for field in ("start", "end"):
        value = word.get(field)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return field, "A number of seconds."
    if word["start"] < 0:
        return "start", "Must be 0 or more."
    if word["start"] >= word["end"]:
        return "end", "Must be after start."
    if word["end"] > duration + 0.001:
        return "end", f"The clip is only {duration:.3f} s long."
    if word["start"] < previous_end - 0.0005:
        return "start", "Words must be in time order and must not overlap."
    return None


def clean_words(words: list[dict], *, duration: float) -> list[dict]:
    """Times rounded to milliseconds and kept inside the clip; text trimmed; empty words dropped."""
    cleaned = []
    for word in words:
        text = str(word["text"]).strip()[:MAX_WORD_LENGTH]
        start = round(min(max(float(word["start"]), 0.0), duration), 3)
        end = round(min(max(float(word["end"]), start), duration), 3)
        if text and end > start:
            cleaned.append({"text": text, "start": start, "end": end})
    return cleaned
