"""Transcripts: the API (ask, read, correct) and its rules, recognition through the queue, limits, recovery, admin."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from clips import tasks, transcripts
from clips.models import Clip, Transcript, TranscriptionRun
from clips.tests.factories import make_clip, make_ready_clip
from core.tests.concurrency import lock_held_elsewhere
from core.tests.helpers import error_code, error_details, run_action
from integrations import transcription
from integrations.tests.fakes import (
    OPENAI_TRANSCRIPTIONS_URL,
    TRANSCRIPTION_API_KEY,
    configure_transcription,
    multipart_fields,
    multipart_parts,
    serve_openai_transcription,
)
from integrations.transcription import recognition as recognition_module
from renders.tests.test_feature_flags import last_month, next_month_start

pytestmark = pytest.mark.django_db

CLIPS = "/api/clips/"
ADMIN_CLIPS = "/admin/clips/clip/"
TRANSCRIBE_TASK = "clips.tasks.transcribe_clip"

# Three words of a 3-second clip, as the creator types them (the second and third touch).
WORDS = [
    {"text": "Clutch", "start": 0.0, "end": 0.42},
    {"text": "no", "start": 0.92, "end": 1.1},
    {"text": "way", "start": 1.1, "end": 1.46},
]
# The same words as Whisper answers them: (text, start, end), a space before each word.
SPOKEN = [(" Clutch", 0.0, 0.42), (" no", 0.92, 1.1), (" way", 1.1, 1.46)]

Status = Transcript.Status


def transcribe_url(clip: Clip) -> str:
    return f"{CLIPS}{clip.pk}/transcribe/"


def transcript_url(clip: Clip) -> str:
    return f"{CLIPS}{clip.pk}/transcript/"


def provider_calls(mock) -> list:
    return [call for call in mock.calls if call.request.url == OPENAI_TRANSCRIPTIONS_URL]


def queued_recognitions() -> list[dict]:
    return [job.args for job in ProcrastinateJob.objects.filter(task_name=TRANSCRIBE_TASK)]


@pytest.fixture
def transcription_api(settings, mocked_http, sleeps, monkeypatch):
    """Speech recognition configured against the fake OpenAI-compatible API; its retries record their waits."""
    configure_transcription(settings, "openai")
    monkeypatch.setattr(recognition_module, "_sleep", sleeps.append)
    return mocked_http


@pytest.fixture
def no_transcription(settings):
    settings.TRANSCRIPTION_BACKEND = ""
    settings.TRANSCRIPTION_API_KEY = ""
    return settings


@pytest.fixture
def typed_clip(owner) -> Clip:
    """The owner's 3-second Twitch clip, without its video: enough for typed transcripts."""
    return make_clip(owner, duration=3.0)


@pytest.fixture
def transcribe(api_client, bearer, owner):
    """`transcribe(clip, user=owner, **data)`: POST /api/clips/{id}/transcribe/."""

    def post(clip: Clip, *, user=owner, **data):
        return api_client.post(transcribe_url(clip), data, format="json", **bearer(user))

    return post


@pytest.fixture
def put_words(api_client, bearer, owner):
    """`put_words(clip, words, user=owner, **fields)`: PUT /api/clips/{id}/transcript/."""

    def put(clip: Clip, words, *, user=owner, **fields):
        return api_client.put(transcript_url(clip), {"words": words, **fields}, format="json", **bearer(user))

    return put


@pytest.fixture
def get_transcript(api_client, bearer, owner):
    def get(clip: Clip, *, user=owner):
        return api_client.get(transcript_url(clip), **bearer(user))

    return get


# --- Asking for a recognition -------------------------------------------------------------------


def test_asking_for_a_transcript_answers_202_and_queues_one_recognition(transcription_api, transcribe, ready_clip):
    response = transcribe(ready_clip)

    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    transcript = Transcript.objects.get(clip=ready_clip)
    run = TranscriptionRun.objects.get()
    assert queued_recognitions() == [{"transcript_id": str(transcript.pk), "run_id": run.pk}]
    assert (run.transcript, run.owner, run.provider, run.audio_seconds) == (transcript, ready_clip.owner, "openai", 3.0)
    assert transcript.requested_language == ""


def test_the_requested_language_is_kept_for_the_recognition(transcription_api, transcribe, ready_clip):
    assert transcribe(ready_clip, language="de").status_code == 202

    assert Transcript.objects.get(clip=ready_clip).requested_language == "de"


@pytest.mark.parametrize("language", ["english", "EN", "e", 7])
def test_a_language_that_is_not_an_iso_code_is_refused(transcription_api, transcribe, ready_clip, language):
    response = transcribe(ready_clip, language=language)

    assert response.status_code == 400
    assert "language" in error_details(response)
    assert not queued_recognitions()


def test_a_second_request_while_one_runs_is_refused_with_409(transcription_api, transcribe, ready_clip):
    assert transcribe(ready_clip).status_code == 202

    response = transcribe(ready_clip)

    assert response.status_code == 409
    assert error_code(response) == "transcription_in_progress"
    assert len(queued_recognitions()) == 1
    assert TranscriptionRun.objects.count() == 1


@pytest.mark.parametrize("status", [Status.PENDING, Status.RUNNING])
def test_a_request_while_the_recognition_is_queued_or_running_is_refused(
    transcription_api, transcribe, ready_clip, status
):
    Transcript.objects.create(clip=ready_clip, status=status, requested_at=timezone.now())

    response = transcribe(ready_clip)

    assert response.status_code == 409
    assert error_code(response) == "transcription_in_progress"
    assert not queued_recognitions()


@pytest.mark.parametrize("status", [Status.READY, Status.FAILED])
def test_a_finished_transcript_can_be_recognised_again(transcription_api, transcribe, ready_clip, status):
    Transcript.objects.create(
        clip=ready_clip, status=status, requested_at=timezone.now(), error="old", words=WORDS, language="en"
    )

    response = transcribe(ready_clip)

    assert response.status_code == 202
    transcript = Transcript.objects.get(clip=ready_clip)
    assert (transcript.status, transcript.error) == (Status.PENDING, "")
    assert len(queued_recognitions()) == 1


@pytest.mark.parametrize("media_status", [Clip.MediaStatus.NONE, Clip.MediaStatus.DOWNLOADING, Clip.MediaStatus.FAILED])
def test_a_clip_whose_video_is_not_ready_is_refused_with_409(transcription_api, transcribe, owner, media_status):
    clip = make_clip(owner, media_status=media_status)

    response = transcribe(clip)

    assert response.status_code == 409
    assert error_code(response) == "media_not_ready"
    assert not Transcript.objects.exists()
    assert not queued_recognitions()


def test_without_a_provider_asking_is_refused_with_503(no_transcription, transcribe, ready_clip):
    response = transcribe(ready_clip)

    assert response.status_code == 503
    assert error_code(response) == "transcription_not_configured"
    assert not Transcript.objects.exists()
    assert not TranscriptionRun.objects.exists()
    assert not queued_recognitions()


def test_without_a_provider_the_creator_can_still_type_the_words(
    no_transcription, put_words, get_transcript, ready_clip
):
    response = put_words(ready_clip, WORDS, language="en")

    assert response.status_code == 200, response.content
    assert get_transcript(ready_clip).json()["words"] == WORDS


# --- Reading the transcript -----------------------------------------------------------------------


def test_a_clip_never_transcribed_has_no_transcript(get_transcript, typed_clip):
    response = get_transcript(typed_clip)

    assert response.status_code == 404
    assert error_code(response) == "no_transcript"


def test_the_transcript_answers_its_status_language_words_error_source_and_update_time(get_transcript, typed_clip):
    transcripts.transcript_replace(clip=typed_clip, words=WORDS, language="en")
    transcript = Transcript.objects.get(clip=typed_clip)

    response = get_transcript(typed_clip)

    assert response.status_code == 200
    body = response.json()
    assert datetime.fromisoformat(body.pop("updated_at")) == transcript.updated_at
    assert body == {"status": "ready", "language": "en", "words": WORDS, "error": "", "source": "edited"}


def test_a_queued_transcript_reads_as_pending_with_no_words(transcription_api, transcribe, get_transcript, ready_clip):
    transcribe(ready_clip)

    body = get_transcript(ready_clip).json()

    assert (body["status"], body["words"], body["source"], body["error"]) == ("pending", [], "recognised", "")


def test_a_failed_transcript_reads_with_its_error(get_transcript, typed_clip):
    Transcript.objects.create(clip=typed_clip, status=Status.FAILED, error="Speech recognition failed: boom")

    body = get_transcript(typed_clip).json()

    assert (body["status"], body["error"]) == ("failed", "Speech recognition failed: boom")


def test_times_are_seconds_rounded_to_milliseconds(put_words, get_transcript, typed_clip):
    put_words(typed_clip, [{"text": "Clutch", "start": 0.12345, "end": 0.67891}])

    assert get_transcript(typed_clip).json()["words"] == [{"text": "Clutch", "start": 0.123, "end": 0.679}]


# --- Correcting the words ---------------------------------------------------------------------------


def test_putting_words_replaces_them_and_marks_the_transcript_edited(put_words, typed_clip):
    Transcript.objects.create(
        clip=typed_clip, status=Status.READY, words=[{"text": "Clutsh", "start": 0.0, "end": 0.4}], language="en"
    )

    response = put_words(typed_clip, WORDS)

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["source"], response.json()["words"]) == (
        "ready",
        "edited",
        WORDS,
    )
    transcript = Transcript.objects.get(clip=typed_clip)
    assert (transcript.words, transcript.language, transcript.source) == (WORDS, "en", Transcript.Source.EDITED)


def test_putting_words_on_a_clip_without_a_transcript_creates_a_ready_one(put_words, typed_clip):
    response = put_words(typed_clip, WORDS, language="fr")

    assert response.status_code == 200
    transcript = Transcript.objects.get(clip=typed_clip)
    assert (transcript.status, transcript.language, transcript.words) == (Status.READY, "fr", WORDS)


def test_putting_a_language_changes_it_and_leaving_it_out_keeps_it(put_words, typed_clip):
    put_words(typed_clip, WORDS, language="es")
    put_words(typed_clip, WORDS[:1])

    transcript = Transcript.objects.get(clip=typed_clip)
    assert (transcript.language, transcript.words) == ("es", WORDS[:1])


@pytest.mark.parametrize("language", ["EN", "english", "e"])
def test_a_language_that_is_not_an_iso_code_is_refused_on_put(put_words, typed_clip, language):
    response = put_words(typed_clip, WORDS, language=language)

    assert response.status_code == 400
    assert "language" in error_details(response)
    assert not Transcript.objects.exists()


def test_edge_values_are_accepted(put_words, typed_clip):
    words = [
        {"text": "x" * 64, "start": 0, "end": 1},  # whole seconds, the longest text
        {"text": "touching", "start": 1, "end": 2.5},  # starts where the previous ends
        {"text": "last", "start": 2.5, "end": 3.0},  # ends exactly at the clip's end
    ]

    response = put_words(typed_clip, words)

    assert response.status_code == 200, response.content
    assert [word["end"] for word in Transcript.objects.get(clip=typed_clip).words] == [1.0, 2.5, 3.0]


def test_an_empty_word_list_is_a_ready_transcript_without_words(put_words, typed_clip):
    assert put_words(typed_clip, []).status_code == 200
    assert Transcript.objects.get(clip=typed_clip).words == []


def with_word(index: int, **changes) -> list[dict]:
    words = [dict(word) for word in WORDS]
    words[index].update(changes)
    return words


@pytest.mark.parametrize(
    ("words", "index", "field"),
    [
        pytest.param(with_word(0, start="0.0"), 0, "start", id="start-a-string"),
        pytest.param(with_word(1, end="1.1"), 1, "end", id="end-a-string"),
        pytest.param(with_word(0, start=False), 0, "start", id="start-a-bool"),
        pytest.param(with_word(2, end=True), 2, "end", id="end-a-bool"),
        pytest.param(with_word(1, start=None), 1, "start", id="start-null"),
        pytest.param([{"text": "Clutch", "end": 0.42}], 0, "start", id="start-missing"),
        pytest.param([{"text": "Clutch", "start": 0.0}], 0, "end", id="end-missing"),
        pytest.param(with_word(0, start=-0.1), 0, "start", id="start-negative"),
        pytest.param(with_word(0, start=0.42), 0, "end", id="start-equals-end"),
        pytest.param(with_word(1, start=1.2, end=1.15), 1, "end", id="end-before-start"),
        pytest.param(with_word(2, end=3.2), 2, "end", id="end-after-the-clip"),
        pytest.param(with_word(1, start=0.1, end=0.3), 1, "start", id="out-of-time-order"),
        pytest.param(with_word(2, start=1.0), 2, "start", id="overlapping-the-previous-word"),
        pytest.param(with_word(0, text=""), 0, "text", id="text-empty"),
        pytest.param(with_word(0, text="x" * 65), 0, "text", id="text-65-characters"),
        pytest.param(with_word(1, text="gg\nwp"), 1, "text", id="text-with-a-newline"),
        pytest.param(with_word(1, text="gg\x00"), 1, "text", id="text-with-a-nul"),
        pytest.param(with_word(1, text="gg\x1b[31m"), 1, "text", id="text-with-an-escape"),
        pytest.param(with_word(1, text="gg\u0085"), 1, "text", id="text-with-a-c1-control"),
        pytest.param(with_word(2, text=42), 2, "text", id="text-a-number"),
        pytest.param([{"start": 0.0, "end": 0.42}], 0, "text", id="text-missing"),
    ],
)
def test_an_invalid_word_is_refused_with_a_field_error_and_changes_nothing(put_words, typed_clip, words, index, field):
    transcripts.transcript_replace(clip=typed_clip, words=WORDS[:1], language="en")

    response = put_words(typed_clip, words)

    assert response.status_code == 400, response.content
    assert error_code(response) == "validation_error"
    problems = error_details(response)["words"]
    assert list(problems) == [str(index)]
    assert list(problems[str(index)]) == [field]
    [message] = problems[str(index)][field]
    assert message.strip()
    assert Transcript.objects.get(clip=typed_clip).words == WORDS[:1]


@pytest.mark.parametrize("body", [{}, {"words": "Clutch"}, {"words": [["Clutch", 0, 1]]}, {"words": None}])
def test_a_body_without_a_list_of_word_objects_is_refused(api_client, bearer, owner, typed_clip, body):
    response = api_client.put(transcript_url(typed_clip), body, format="json", **bearer(owner))

    assert response.status_code == 400
    assert "words" in error_details(response)
    assert not Transcript.objects.exists()


def test_at_most_5000_words_are_accepted(put_words, owner):
    long_clip = make_clip(owner, duration=6000.0)
    words = [{"text": f"w{index}", "start": float(index), "end": index + 0.5} for index in range(5001)]

    refused = put_words(long_clip, words)
    accepted = put_words(long_clip, words[:5000])

    assert refused.status_code == 400
    assert "words" in error_details(refused)
    assert accepted.status_code == 200
    assert len(Transcript.objects.get(clip=long_clip).words) == 5000


def test_the_service_applies_the_same_rules_whoever_calls(typed_clip):
    with pytest.raises(transcripts.InvalidTranscript) as refused:
        transcripts.transcript_replace(clip=typed_clip, words=with_word(2, end=3.5))

    assert refused.value.status == 400
    assert set(refused.value.details["words"]) == {"2"}
    assert not Transcript.objects.filter(status=Status.READY).exists()


@pytest.mark.parametrize("status", [Status.PENDING, Status.RUNNING])
def test_words_cannot_be_put_while_a_recognition_is_queued_or_running(put_words, typed_clip, status):
    Transcript.objects.create(clip=typed_clip, status=status, requested_at=timezone.now())

    response = put_words(typed_clip, WORDS)

    assert response.status_code == 409
    assert error_code(response) == "transcription_in_progress"
    assert Transcript.objects.get(clip=typed_clip).words == []


def test_an_edited_transcript_can_be_recognised_again(transcription_api, transcribe, put_words, ready_clip):
    assert put_words(ready_clip, WORDS).status_code == 200

    assert transcribe(ready_clip).status_code == 202
    assert Transcript.objects.get(clip=ready_clip).status == Status.PENDING


# --- Owner only -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "transcribe/", {}),
        ("get", "transcript/", None),
        ("put", "transcript/", {"words": [{"text": "pwned", "start": 0.0, "end": 0.5}]}),
    ],
)
def test_another_users_clip_answers_404_and_is_left_alone(
    transcription_api, api_client, bearer, owner, stranger, ready_clip, method, path, body
):
    transcripts.transcript_replace(clip=ready_clip, words=WORDS, language="en")

    response = getattr(api_client, method)(f"{CLIPS}{ready_clip.pk}/{path}", body, format="json", **bearer(stranger))

    assert response.status_code == 404
    assert error_code(response) == "not_found"
    transcript = Transcript.objects.get(clip=ready_clip)
    assert (transcript.status, transcript.words) == (Status.READY, WORDS)
    assert not queued_recognitions()
    assert api_client.get(transcript_url(ready_clip), **bearer(owner)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("post", "transcribe/", {}), ("get", "transcript/", None), ("put", "transcript/", {"words": WORDS})],
)
def test_every_transcript_endpoint_requires_authentication(
    transcription_api, api_client, ready_clip, method, path, body
):
    response = getattr(api_client, method)(f"{CLIPS}{ready_clip.pk}/{path}", body, format="json")

    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"
    assert not Transcript.objects.exists()
    assert not queued_recognitions()


# --- Monthly transcription minutes ------------------------------------------------------------------


@pytest.fixture
def transcription_limits(settings, transcription_api):
    """The render-limits flag's payload caps transcription at 1 minute a month."""
    settings.FEATURE_FLAG_DEFAULTS = {
        settings.RENDER_LIMITS_FLAG: {"enabled": True, "payload": {"monthly_transcription_minutes": 1}}
    }
    return settings


@pytest.fixture
def long_clips(owner, media_root, landscape_video):
    """Two 40-second clips of the owner's (so together beyond one minute), ready."""
    return [make_ready_clip(owner, landscape_video, duration=40.0, media_duration=40.0) for _ in range(2)]


def test_a_request_beyond_the_monthly_minutes_is_refused_with_429(transcription_limits, transcribe, long_clips):
    first, second = long_clips
    assert transcribe(first).status_code == 202

    response = transcribe(second)

    assert response.status_code == 429
    assert error_code(response) == "transcription_limit_reached"
    assert error_details(response) == {"limit": 1, "used": 1, "resets_at": next_month_start().isoformat()}
    assert not Transcript.objects.filter(clip=second).exists()
    assert len(queued_recognitions()) == 1
    assert TranscriptionRun.objects.count() == 1


def test_requests_within_the_monthly_minutes_are_accepted(
    transcription_limits, transcribe, owner, ready_clip, landscape_video
):
    another = make_ready_clip(owner, landscape_video)  # 3 s more: 6 s of the minute

    assert [transcribe(clip).status_code for clip in (ready_clip, another)] == [202, 202]


def test_a_second_request_for_a_running_clip_is_409_even_at_the_limit(transcription_limits, transcribe, long_clips):
    assert transcribe(long_clips[0]).status_code == 202

    response = transcribe(long_clips[0])

    assert response.status_code == 409
    assert error_code(response) == "transcription_in_progress"


def test_failed_recognitions_do_not_count(transcription_limits, transcribe, long_clips):
    first, second = long_clips
    transcribe(first)
    TranscriptionRun.objects.update(outcome="failed")

    assert transcribe(second).status_code == 202


def test_recognitions_of_last_month_do_not_count(transcription_limits, transcribe, long_clips):
    first, second = long_clips
    transcribe(first)
    TranscriptionRun.objects.update(created_at=last_month())

    assert transcribe(second).status_code == 202


def test_other_users_recognitions_do_not_count(transcription_limits, transcribe, long_clips, stranger, landscape_video):
    theirs = make_ready_clip(stranger, landscape_video, duration=40.0, media_duration=40.0)
    assert transcribe(theirs, user=stranger).status_code == 202

    assert transcribe(long_clips[0]).status_code == 202


def test_without_a_transcription_limit_requests_are_unlimited(transcription_api, transcribe, long_clips, settings):
    settings.FEATURE_FLAG_DEFAULTS = {settings.RENDER_LIMITS_FLAG: {"enabled": True, "payload": {"monthly_renders": 1}}}

    assert [transcribe(clip).status_code for clip in long_clips] == [202, 202]


# --- Recognition, through the queue ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_recognition_through_the_queue_stores_the_words_language_and_provider(
    transcription_api, transcribe, get_transcript, run_queued_jobs, ready_clip
):
    serve_openai_transcription(transcription_api, SPOKEN, language="english")
    assert transcribe(ready_clip).status_code == 202

    run_queued_jobs()

    body = get_transcript(ready_clip).json()
    assert (body["status"], body["language"], body["source"], body["error"]) == ("ready", "en", "recognised", "")
    assert body["words"] == WORDS
    transcript = Transcript.objects.get(clip=ready_clip)
    assert (transcript.provider, transcript.audio_seconds) == ("openai", 3.0)
    assert transcript.started_at <= transcript.finished_at
    run = TranscriptionRun.objects.get()
    assert (run.transcript, run.provider, run.outcome, run.audio_seconds) == (transcript, "openai", "ready", 3.0)


@pytest.mark.django_db(transaction=True)
def test_the_provider_gets_the_clips_audio_with_our_key_and_model(
    transcription_api, transcribe, run_queued_jobs, ready_clip
):
    serve_openai_transcription(transcription_api, SPOKEN)
    transcribe(ready_clip)

    run_queued_jobs()

    [call] = provider_calls(transcription_api)
    assert call.request.headers["Authorization"] == f"Bearer {TRANSCRIPTION_API_KEY}"
    fields = multipart_fields(call.request)
    assert ("model", "whisper-1") in fields
    assert not [value for name, value in fields if name == "language"]  # detected, not asked for
    [audio] = [part for part in multipart_parts(call.request) if part.filename]
    assert audio.content_type == "audio/ogg"
    assert audio.value.startswith(b"OggS")  # the extracted audio, not the MP4


@pytest.mark.django_db(transaction=True)
def test_the_requested_language_is_sent_to_the_provider(transcription_api, transcribe, run_queued_jobs, ready_clip):
    serve_openai_transcription(transcription_api, SPOKEN, language="german")
    transcribe(ready_clip, language="de")

    run_queued_jobs()

    [call] = provider_calls(transcription_api)
    assert ("language", "de") in multipart_fields(call.request)
    assert Transcript.objects.get(clip=ready_clip).language == "de"


@pytest.mark.django_db(transaction=True)
def test_a_provider_that_keeps_failing_ends_the_transcript_failed_with_a_reason(
    transcription_api, transcribe, get_transcript, run_queued_jobs, ready_clip, sleeps
):
    serve_openai_transcription(transcription_api, status=500)
    transcribe(ready_clip)

    run_queued_jobs()

    body = get_transcript(ready_clip).json()
    assert body["status"] == "failed"
    assert body["error"].startswith("Speech recognition failed:")
    assert "HTTP 500" in body["error"]
    assert TRANSCRIPTION_API_KEY not in body["error"]
    assert body["words"] == []
    assert TranscriptionRun.objects.get().outcome == "failed"
    # Retried a bounded number of times, waiting between attempts (recorded, not slept), then given up.
    assert len(provider_calls(transcription_api)) == recognition_module.MAX_ATTEMPTS
    assert len(sleeps) == recognition_module.MAX_ATTEMPTS - 1
    # Never stuck: the creator can ask again straight away.
    assert transcribe(ready_clip).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_a_video_without_readable_audio_ends_the_transcript_failed(
    transcription_api, transcribe, run_queued_jobs, owner, media_root, tmp_path
):
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_bytes(b"these are not the frames you are looking for")
    clip = make_ready_clip(owner, not_a_video)
    transcribe(clip)

    run_queued_jobs()

    transcript = Transcript.objects.get(clip=clip)
    assert (transcript.status, transcript.error) == (Status.FAILED, "The clip has no audio we can read.")
    assert not provider_calls(transcription_api)


@pytest.mark.django_db(transaction=True)
def test_a_second_delivery_of_a_finished_recognition_changes_nothing(
    transcription_api, transcribe, put_words, run_queued_jobs, ready_clip
):
    serve_openai_transcription(transcription_api, SPOKEN)
    transcribe(ready_clip)
    run_queued_jobs()
    [job] = ProcrastinateJob.objects.filter(task_name=TRANSCRIBE_TASK)
    assert put_words(ready_clip, WORDS[:1]).status_code == 200  # the creator's correction

    tasks.transcribe_clip.defer(**job.args)  # the queue delivers the same job again
    run_queued_jobs()

    transcript = Transcript.objects.get(clip=ready_clip)
    assert (transcript.status, transcript.source, transcript.words) == (Status.READY, "edited", WORDS[:1])
    assert len(provider_calls(transcription_api)) == 1
    assert TranscriptionRun.objects.get().outcome == "ready"


@pytest.mark.django_db(transaction=True)
def test_long_audio_is_recognised_in_chunks_whose_word_times_are_offset(
    transcription_api, transcribe, get_transcript, run_queued_jobs, ready_clip, settings
):
    settings.TRANSCRIPTION_CHUNK_SECONDS = 1
    # Each chunk hears its second plus 2 s of overlap; words starting in the overlap belong to the next chunk.
    serve_openai_transcription(transcription_api, [(" Clutch", 0.0, 0.42), (" no", 0.92, 1.1), (" way", 1.1, 1.46)])
    serve_openai_transcription(transcription_api, [(" way", 0.1, 0.46), (" he", 0.8, 0.94), (" just", 1.2, 1.4)])
    serve_openai_transcription(transcription_api, [(" just", 0.2, 0.4), (" gg", 0.6, 0.9)])
    transcribe(ready_clip)

    run_queued_jobs()

    calls = provider_calls(transcription_api)
    assert len(calls) == 3
    assert get_transcript(ready_clip).json()["words"] == [
        {"text": "Clutch", "start": 0.0, "end": 0.42},
        {"text": "no", "start": 0.92, "end": 1.1},
        {"text": "way", "start": 1.1, "end": 1.46},
        {"text": "he", "start": 1.8, "end": 1.94},
        {"text": "just", "start": 2.2, "end": 2.4},
        {"text": "gg", "start": 2.6, "end": 2.9},
    ]
    # The language detected in the first chunk is asked for in the next ones.
    languages = [[value for name, value in multipart_fields(call.request) if name == "language"] for call in calls]
    assert languages == [[], ["en"], ["en"]]


@pytest.mark.django_db(transaction=True)
def test_a_recognition_announces_the_clip_transcribed(
    transcription_api, transcribe, run_queued_jobs, ready_clip, owner, analytics_events
):
    serve_openai_transcription(transcription_api, SPOKEN)
    transcribe(ready_clip)

    run_queued_jobs()

    assert analytics_events() == [
        (
            "clip transcribed",
            owner.clerk_id,
            {"clip_id": str(ready_clip.pk), "provider": "openai", "language": "en", "audio_seconds": 3.0, "words": 3},
        )
    ]


@pytest.mark.django_db(transaction=True)
def test_a_failed_recognition_announces_nothing(
    transcription_api, transcribe, run_queued_jobs, ready_clip, analytics_events
):
    serve_openai_transcription(transcription_api, status=500)
    transcribe(ready_clip)

    run_queued_jobs()

    assert analytics_events() == []


def test_a_correction_announces_the_transcript_edited(put_words, typed_clip, owner, analytics_events, committed):
    with committed():
        assert put_words(typed_clip, WORDS, language="en").status_code == 200

    assert analytics_events() == [
        ("transcript edited", owner.clerk_id, {"clip_id": str(typed_clip.pk), "language": "en", "words": 3})
    ]


def test_a_refused_correction_announces_nothing(put_words, typed_clip, analytics_events, committed):
    with committed():
        assert put_words(typed_clip, with_word(2, end=9.0)).status_code == 400

    assert analytics_events() == []


# --- Stitching chunks -----------------------------------------------------------------------------------


def recognition(*words: tuple[str, float, float], language: str = "") -> transcription.Recognition:
    return transcription.Recognition(
        language=language,
        words=tuple(transcription.Word(text=text, start=start, end=end) for text, start, end in words),
        duration=None,
    )


def stitched(pieces) -> list[tuple[str, float, float]]:
    return [(word.text, round(word.start, 3), round(word.end, 3)) for word in transcripts.stitch_chunks(pieces).words]


def test_stitching_offsets_each_chunks_times_by_its_start():
    pieces = [
        (0.0, 10.0, recognition(("one", 1.0, 1.5))),
        (10.0, 20.0, recognition(("two", 2.0, 2.5))),
        (20.0, 30.0, recognition(("three", 0.5, 0.9))),
    ]

    assert stitched(pieces) == [("one", 1.0, 1.5), ("two", 12.0, 12.5), ("three", 20.5, 20.9)]


def test_stitching_drops_the_fragment_of_a_word_cut_by_the_next_chunks_start():
    # "boundary" straddles 10 s: chunk 0 heard it whole, chunk 1 (starting at 10 s) hears its tail.
    pieces = [
        (0.0, 10.0, recognition(("the", 9.0, 9.4), ("boundary", 9.6, 10.4))),
        (10.0, 20.0, recognition(("ary", 0.0, 0.4), ("next", 0.8, 1.2))),
    ]

    assert stitched(pieces) == [("the", 9.0, 9.4), ("boundary", 9.6, 10.4), ("next", 10.8, 11.2)]


def test_stitching_keeps_a_word_heard_in_the_overlap_of_two_chunks_once():
    # Chunk 0 hears 0-12 s (its window 0-10 s, then 2 s of overlap); chunk 1 starts at 10 s.
    pieces = [
        (0.0, 10.0, recognition(("before", 9.0, 9.6), ("overlap", 10.2, 10.8), ("later", 11.0, 11.5))),
        (10.0, 20.0, recognition(("overlap", 0.2, 0.8), ("later", 1.0, 1.5), ("end", 3.0, 3.4))),
    ]

    assert stitched(pieces) == [
        ("before", 9.0, 9.6),
        ("overlap", 10.2, 10.8),
        ("later", 11.0, 11.5),
        ("end", 13.0, 13.4),
    ]


def test_a_word_starting_inside_a_window_but_ending_past_it_is_kept_from_that_chunk():
    pieces = [
        (0.0, 10.0, recognition(("straddling", 9.7, 10.4))),
        (10.0, 20.0, recognition(("next", 0.6, 1.0))),
    ]

    assert stitched(pieces) == [("straddling", 9.7, 10.4), ("next", 10.6, 11.0)]


def test_the_last_chunk_keeps_words_past_its_window():
    pieces = [(0.0, 10.0, recognition(("a", 1.0, 1.2))), (10.0, 20.0, recognition(("tail", 10.5, 11.0)))]

    assert stitched(pieces) == [("a", 1.0, 1.2), ("tail", 20.5, 21.0)]


def test_stitching_takes_the_first_language_detected():
    pieces = [
        (0.0, 10.0, recognition(language="")),
        (10.0, 20.0, recognition(("hola", 0.0, 0.5), language="es")),
        (20.0, 30.0, recognition(language="pt")),
    ]

    assert transcripts.stitch_chunks(pieces).language == "es"


# --- Stalled recognitions ---------------------------------------------------------------------------


def running_transcript(clip: Clip, *, for_minutes: float) -> Transcript:
    started = timezone.now() - timedelta(minutes=for_minutes)
    return Transcript.objects.create(clip=clip, status=Status.RUNNING, requested_at=started, started_at=started)


def test_a_recognition_running_for_over_30_minutes_with_nobody_on_it_is_failed(typed_clip):
    transcript = running_transcript(typed_clip, for_minutes=31)

    assert transcripts.transcripts_recover_stalled() == [str(transcript.pk)]

    transcript.refresh_from_db()
    assert transcript.status == Status.FAILED
    assert "ask for it again" in transcript.error
    assert transcript.finished_at is not None


def test_a_recognition_running_for_less_than_30_minutes_is_left_alone(typed_clip):
    transcript = running_transcript(typed_clip, for_minutes=29)

    assert transcripts.transcripts_recover_stalled() == []

    transcript.refresh_from_db()
    assert transcript.status == Status.RUNNING


@pytest.mark.parametrize("status", [Status.PENDING, Status.READY, Status.FAILED])
def test_only_running_recognitions_are_recovered(typed_clip, status):
    transcript = running_transcript(typed_clip, for_minutes=60)
    Transcript.objects.filter(pk=transcript.pk).update(status=status)

    assert transcripts.transcripts_recover_stalled() == []
    transcript.refresh_from_db()
    assert transcript.status == status


@pytest.mark.django_db(transaction=True)
def test_a_long_recognition_whose_worker_still_holds_its_lock_is_left_alone(typed_clip):
    transcript = running_transcript(typed_clip, for_minutes=45)

    with lock_held_elsewhere(f"transcript:{transcript.pk}"):
        assert transcripts.transcripts_recover_stalled() == []

    transcript.refresh_from_db()
    assert transcript.status == Status.RUNNING


def test_the_periodic_recovery_task_fails_stalled_recognitions(typed_clip):
    transcript = running_transcript(typed_clip, for_minutes=31)

    tasks.recover_stalled_clip_imports(timestamp=0)

    transcript.refresh_from_db()
    assert transcript.status == Status.FAILED


def test_a_recovered_recognitions_run_is_failed_and_no_longer_counts(transcription_limits, transcribe, long_clips):
    first, second = long_clips
    transcribe(first)
    long_ago = timezone.now() - timedelta(minutes=31)
    Transcript.objects.filter(clip=first).update(status=Status.RUNNING, started_at=long_ago)

    transcripts.transcripts_recover_stalled()

    assert TranscriptionRun.objects.get().outcome == "failed"
    assert transcribe(second).status_code == 202


def test_a_recovered_recognition_can_be_asked_for_again(transcription_api, transcribe, ready_clip):
    running_transcript(ready_clip, for_minutes=31)
    assert transcribe(ready_clip).status_code == 409

    transcripts.transcripts_recover_stalled()

    assert transcribe(ready_clip).status_code == 202


# --- Admin ------------------------------------------------------------------------------------------


def test_the_clip_page_shows_the_transcript_inline(staff_client, typed_clip):
    Transcript.objects.create(
        clip=typed_clip,
        status=Status.READY,
        provider="deepgram",
        language="pt",
        words=[{"text": f"w{index}", "start": index * 0.5, "end": index * 0.5 + 0.4} for index in range(5)],
    )

    response = staff_client.get(f"{ADMIN_CLIPS}{typed_clip.pk}/change/")

    assert response.status_code == 200
    page = response.content.decode()
    for shown in ("Ready", "deepgram", "pt", "5"):
        assert f'<div class="readonly">{shown}</div>' in page
    assert "Words" in page


def test_the_clip_page_loads_without_a_transcript(staff_client, typed_clip):
    response = staff_client.get(f"{ADMIN_CLIPS}{typed_clip.pk}/change/")

    assert response.status_code == 200


def test_rerunning_speech_recognition_queues_it_and_reports_refusals_per_row(
    transcription_api, staff_client, owner, ready_clip
):
    not_ready = make_clip(owner, title="Still downloading", media_status=Clip.MediaStatus.DOWNLOADING)

    messages = run_action(staff_client, ADMIN_CLIPS, "retranscribe", [ready_clip, not_ready])

    transcript = Transcript.objects.get(clip=ready_clip)
    assert [job["transcript_id"] for job in queued_recognitions()] == [str(transcript.pk)]
    assert transcript.status == Status.PENDING
    assert not Transcript.objects.filter(clip=not_ready).exists()
    assert messages == [
        "Still downloading: The clip's video is not ready: fetch or upload it first.",
        "Queued the recognition of 1 of 2. Refused 1: see above.",
    ]


def test_rerunning_speech_recognition_without_a_provider_refuses_every_row(no_transcription, staff_client, ready_clip):
    messages = run_action(staff_client, ADMIN_CLIPS, "retranscribe", [ready_clip])

    assert not queued_recognitions()
    assert "not configured" in messages[0]
    assert messages[-1] == "Queued the recognition of 0 of 1. Refused 1: see above."
