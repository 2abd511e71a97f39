"""The speech-recognition clients (OpenAI-compatible and Deepgram), against fakes of both at the HTTP edge."""

import os
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings as django_settings

from creatorsync.tests.test_settings import PRODUCTION_ENV, refusal, run_python
from integrations.tests.fakes import (
    DEEPGRAM_LISTEN_URL,
    OPENAI_TRANSCRIPTIONS_URL,
    TRANSCRIPTION_API_KEY,
    configure_transcription,
    deepgram_listen,
    multipart_fields,
    multipart_parts,
    openai_error,
    openai_transcription,
    serve_deepgram_listen,
    serve_openai_transcription,
)
from integrations.transcription import Recognition, TranscriptionError, Word, provider_name, recognise
from integrations.transcription import recognition as recognition_module
from integrations.transcription.openai_api import WHISPER_LANGUAGES
from integrations.transcription.recognition import MAX_ATTEMPTS

# Not valid Ogg, which the fakes never look at; the \r\n and dashes would show a mangled multipart body.
AUDIO_BYTES = b"OggS\x00\x02" + bytes(range(256)) * 8 + b"\r\n--not-a-boundary\r\n"


@pytest.fixture
def audio(tmp_path):
    path = tmp_path / "clip-audio.ogg"
    path.write_bytes(AUDIO_BYTES)
    return path


@pytest.fixture
def sleeps(sleeps, monkeypatch):
    """The client's waits between attempts, recorded instead of slept."""
    monkeypatch.setattr(recognition_module, "_sleep", sleeps.append)
    return sleeps


@pytest.fixture
def openai(settings, mocked_http, sleeps):
    """The OpenAI backend configured against the fake; tests register the answers."""
    configure_transcription(settings, "openai")
    return mocked_http


@pytest.fixture
def deepgram(settings, mocked_http, sleeps):
    """The Deepgram backend configured against the fake; tests register the answers."""
    configure_transcription(settings, "deepgram")
    return mocked_http


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def error_of(call) -> TranscriptionError:
    with pytest.raises(TranscriptionError) as caught:
        call()
    return caught.value


# --- OpenAI-compatible: the recorded answer -------------------------------------------------------


def test_openai_recognises_the_recorded_answer(openai, audio):
    serve_openai_transcription(openai)

    result = recognise(audio)

    assert isinstance(result, Recognition)
    assert result.language == "en"
    assert result.duration == pytest.approx(8.47)
    assert " ".join(word.text for word in result.words) == (
        "Clutch No way he just one tapped him across the map Chat did you see that"
    )
    assert result.words[0] == Word(text="Clutch", start=0.0, end=pytest.approx(0.42))
    assert result.words[-1].end == pytest.approx(6.62)
    assert all(word.end > word.start >= 0 for word in result.words)


def test_openai_sends_whisper_its_multipart_request(openai, audio):
    serve_openai_transcription(openai)

    recognise(audio)

    (call,) = openai.calls
    assert call.request.url == OPENAI_TRANSCRIPTIONS_URL
    assert call.request.headers["Authorization"] == f"Bearer {TRANSCRIPTION_API_KEY}"
    assert call.request.req_kwargs["timeout"] == 120.0
    assert multipart_fields(call.request) == [
        ("model", "whisper-1"),
        ("response_format", "verbose_json"),
        ("timestamp_granularities[]", "word"),
        ("timestamp_granularities[]", "segment"),
    ]
    (upload,) = [part for part in multipart_parts(call.request) if part.filename]
    assert (upload.name, upload.filename, upload.content_type) == ("file", "audio.ogg", "audio/ogg")
    assert upload.value == AUDIO_BYTES


def test_openai_uses_the_configured_model_url_and_timeout(openai, settings, audio):
    settings.TRANSCRIPTION_API_URL = "http://whisper.internal:8000/v1"
    settings.TRANSCRIPTION_MODEL = "Systran/faster-whisper-large-v3"
    settings.TRANSCRIPTION_TIMEOUT_SECONDS = 45.0
    openai.post("http://whisper.internal:8000/v1/audio/transcriptions", json=openai_transcription())

    recognise(audio)

    (call,) = openai.calls
    assert ("model", "Systran/faster-whisper-large-v3") in multipart_fields(call.request)
    assert call.request.req_kwargs["timeout"] == 45.0


def test_a_given_language_is_sent_and_detection_skipped(openai, audio):
    serve_openai_transcription(openai, language="german")

    result = recognise(audio, language="de")

    assert ("language", "de") in multipart_fields(openai.calls[0].request)
    assert result.language == "de"


def test_without_a_language_none_is_sent(openai, audio):
    serve_openai_transcription(openai)

    recognise(audio)

    assert "language" not in dict(multipart_fields(openai.calls[0].request))


@pytest.mark.parametrize(
    ("content_type", "filename"),
    [
        ("audio/ogg", "audio.ogg"),
        ("audio/ogg; codecs=opus", "audio.ogg"),
        ("audio/mpeg", "audio.mp3"),
        ("audio/wav", "audio.wav"),
        ("audio/mp4", "audio.m4a"),
    ],
)
def test_the_file_name_tells_openai_the_audio_format(openai, audio, content_type, filename):
    """OpenAI reads the format from the file name's extension, so it must match the bytes."""
    serve_openai_transcription(openai)

    recognise(audio, content_type=content_type)

    (upload,) = [part for part in multipart_parts(openai.calls[0].request) if part.filename]
    assert (upload.filename, upload.content_type) == (filename, content_type)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("english", "en"),
        ("German", "de"),
        ("portuguese", "pt"),
        ("chinese", "zh"),
        ("norwegian", "no"),
        ("hebrew", "he"),
        ("ukrainian", "uk"),
        ("catalan", "ca"),
        ("en", "en"),  # self-hosted servers that answer a code
        ("klingon", ""),
        ("", ""),
    ],
)
def test_whispers_language_name_becomes_an_iso_639_1_code(openai, audio, name, code):
    serve_openai_transcription(openai, language=name)

    assert recognise(audio).language == code


def test_the_language_table_covers_whispers_most_common_languages():
    common = {"en", "es", "fr", "de", "it", "pt", "nl", "pl", "ru", "uk", "tr", "ar", "hi", "ja", "ko"}
    common |= {"zh", "sv", "no", "da", "fi", "cs", "el", "he", "hu", "id", "ms", "ro", "th", "vi", "ca"}

    assert common <= set(WHISPER_LANGUAGES.values())
    assert all(len(code) == 2 for code in WHISPER_LANGUAGES.values())


def test_words_are_cleaned_up_for_captions(openai, audio):
    serve_openai_transcription(
        openai,
        words=[
            (" Let's", -0.02, 0.3),  # Whisper's leading space, and a start before the audio
            ("  ", 0.3, 0.4),  # nothing to show
            (" go", 0.5, 0.5),  # no length at all
            ("", 0.6, 0.7),
            (" GG ", 0.8, 1.1),
        ],
    )

    words = recognise(audio).words

    assert [word.text for word in words] == ["Let's", "go", "GG"]
    assert words[0] == Word("Let's", 0.0, 0.3)
    assert words[1].start == 0.5
    assert words[1].end == pytest.approx(0.51)
    assert words[2] == Word("GG", 0.8, 1.1)


def test_silence_is_a_recognition_with_no_words(openai, audio):
    serve_openai_transcription(openai, words=[])

    result = recognise(audio)

    assert result.words == ()
    assert result.language == "en"


# --- Deepgram -----------------------------------------------------------------------------------


def test_deepgram_recognises_the_recorded_answer(deepgram, audio):
    serve_deepgram_listen(deepgram)

    result = recognise(audio)

    assert result.language == "en"
    assert result.duration == pytest.approx(8.47)
    assert " ".join(word.text for word in result.words) == (
        "Clutch! No way, he just one tapped him across the map. Chat, did you see that?"
    )
    assert result.words[0] == Word("Clutch!", 0.08, 0.48)
    assert result.words[-1] == Word("that?", 6.16, 6.56)


def test_deepgram_gets_the_raw_audio_and_detects_the_language(deepgram, audio):
    serve_deepgram_listen(deepgram)

    recognise(audio, content_type="audio/ogg")

    (call,) = deepgram.calls
    assert call.request.url.split("?")[0] == DEEPGRAM_LISTEN_URL
    assert query(call) == {"model": ["nova-3"], "smart_format": ["true"], "detect_language": ["true"]}
    assert call.request.headers["Authorization"] == f"Token {TRANSCRIPTION_API_KEY}"
    assert call.request.headers["Content-Type"] == "audio/ogg"
    assert call.request.body == AUDIO_BYTES
    assert call.request.req_kwargs["timeout"] == 120.0


def test_deepgram_is_told_a_given_language_instead_of_detecting_it(deepgram, settings, audio):
    settings.DEEPGRAM_MODEL = "nova-2"
    serve_deepgram_listen(deepgram, language=None)  # told the language, Deepgram detects none

    result = recognise(audio, language="es", content_type="audio/mpeg")

    (call,) = deepgram.calls
    assert query(call) == {"model": ["nova-2"], "smart_format": ["true"], "language": ["es"]}
    assert call.request.headers["Content-Type"] == "audio/mpeg"
    assert result.language == "es"


def test_deepgram_falls_back_to_the_plain_word(deepgram, audio):
    answer = deepgram_listen([("Hello", 0.1, 0.4), ("there.", 0.5, 0.9)])
    del answer["results"]["channels"][0]["alternatives"][0]["words"][1]["punctuated_word"]
    deepgram.post(DEEPGRAM_LISTEN_URL, json=answer)

    assert [word.text for word in recognise(audio).words] == ["Hello", "there"]


def test_deepgram_detected_region_tags_become_iso_639_1(deepgram, audio):
    serve_deepgram_listen(deepgram, language="pt-BR")

    assert recognise(audio).language == "pt"


def test_deepgram_silence_is_a_recognition_with_no_words(deepgram, audio):
    serve_deepgram_listen(deepgram, words=[])

    assert recognise(audio).words == ()


# --- Retries and failures -----------------------------------------------------------------------


def test_a_rate_limit_is_waited_out_then_the_whole_audio_sent_again(openai, audio, sleeps):
    serve_openai_transcription(openai, status=429, headers={"Retry-After": "2"})
    serve_openai_transcription(openai)

    result = recognise(audio)

    assert result.language == "en"
    assert sleeps == [2.0]
    assert len(openai.calls) == 2
    for call in openai.calls:
        (upload,) = [part for part in multipart_parts(call.request) if part.filename]
        assert upload.value == AUDIO_BYTES


def test_a_long_retry_after_is_capped(openai, settings, audio, sleeps):
    settings.TRANSCRIPTION_MAX_RATE_LIMIT_WAIT_SECONDS = 5.0
    serve_openai_transcription(openai, status=429, headers={"Retry-After": "3600"})
    serve_openai_transcription(openai)

    recognise(audio)

    assert sleeps == [5.0]


def test_deepgram_rate_limits_and_outages_are_retried(deepgram, audio, sleeps):
    serve_deepgram_listen(deepgram, status=429, headers={"Retry-After": "1"})
    serve_deepgram_listen(deepgram, status=503)
    serve_deepgram_listen(deepgram)

    assert recognise(audio).language == "en"
    assert len(deepgram.calls) == 3
    assert sleeps[0] == 1.0
    assert len(sleeps) == 2


def test_a_persistent_rate_limit_fails_rate_limited(openai, audio, sleeps):
    serve_openai_transcription(openai, status=429, headers={"Retry-After": "1"})

    error = error_of(lambda: recognise(audio))

    assert error.code == "rate_limited"
    assert error.status == 429
    assert "Rate limit reached for whisper-1" in str(error)
    assert len(openai.calls) == MAX_ATTEMPTS


@pytest.mark.parametrize("backend", ["openai", "deepgram"])
def test_a_persistent_server_error_fails_unavailable_after_bounded_attempts(
    settings, mocked_http, sleeps, audio, backend
):
    configure_transcription(settings, backend)
    serve = serve_openai_transcription if backend == "openai" else serve_deepgram_listen
    serve(mocked_http, status=500)

    error = error_of(lambda: recognise(audio))

    assert error.code == "unavailable"
    assert error.status == 500
    assert "unavailable (HTTP 500)" in str(error)
    assert len(mocked_http.calls) == MAX_ATTEMPTS == 3
    assert len(sleeps) == MAX_ATTEMPTS - 1
    assert all(wait <= 30 for wait in sleeps)


@pytest.mark.parametrize("backend", ["openai", "deepgram"])
def test_a_provider_that_never_answers_fails_unreachable(settings, mocked_http, sleeps, audio, backend):
    configure_transcription(settings, backend)
    url = OPENAI_TRANSCRIPTIONS_URL if backend == "openai" else DEEPGRAM_LISTEN_URL
    mocked_http.post(url, body=requests.ReadTimeout("Read timed out. (read timeout=120.0)"))

    error = error_of(lambda: recognise(audio))

    assert error.code == "unreachable"
    assert "ReadTimeout" in str(error)
    assert len(mocked_http.calls) == MAX_ATTEMPTS


def test_a_network_error_then_an_answer_succeeds(openai, audio, sleeps):
    openai.post(OPENAI_TRANSCRIPTIONS_URL, body=requests.ConnectionError("Connection reset by peer"))
    serve_openai_transcription(openai)

    assert recognise(audio).words
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "bad_request"), (401, "unauthorized"), (403, "unauthorized"), (413, "too_large"), (404, "bad_request")],
)
def test_openai_client_errors_fail_at_once_with_their_code(openai, audio, sleeps, status, code):
    serve_openai_transcription(openai, status=status)

    error = error_of(lambda: recognise(audio))

    assert (error.code, error.status) == (code, status)
    assert len(openai.calls) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    ("status", "code"), [(400, "bad_request"), (401, "unauthorized"), (402, "unauthorized"), (413, "too_large")]
)
def test_deepgram_client_errors_fail_at_once_with_their_code(deepgram, audio, status, code):
    serve_deepgram_listen(deepgram, status=status)

    error = error_of(lambda: recognise(audio))

    assert (error.code, error.status) == (code, status)
    assert len(deepgram.calls) == 1


def test_a_bad_request_quotes_the_providers_reason(openai, audio):
    serve_openai_transcription(openai, status=400)

    error = error_of(lambda: recognise(audio))

    assert "Invalid file format" in str(error)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"body": "<html>502 Bad Gateway</html>", "status": 200}, id="not-json"),
        pytest.param({"json": ["a", "list"]}, id="not-an-object"),
        pytest.param({"json": {**openai_transcription(), "words": None}}, id="no-word-timestamps"),
        pytest.param(
            {"json": {"text": "Clutch", "language": "english", "words": [{"word": "Clutch", "end": 0.4}]}},
            id="word-without-start",
        ),
        pytest.param(
            {"json": {"text": "Clutch", "words": [{"word": "Clutch", "start": "0.0", "end": 0.4}]}},
            id="time-as-text",
        ),
        pytest.param({"json": {"text": "Clutch", "words": [{"word": 7, "start": 0, "end": 1}]}}, id="word-not-text"),
        pytest.param({"json": {"text": "Clutch", "words": {"word": "Clutch"}}}, id="words-not-a-list"),
    ],
)
def test_an_unusable_openai_answer_fails_invalid_response(openai, audio, answer):
    openai.post(OPENAI_TRANSCRIPTIONS_URL, **answer)

    error = error_of(lambda: recognise(audio))

    assert error.code == "invalid_response"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"metadata": {}, "results": {"channels": []}}, id="no-channel"),
        pytest.param({"metadata": {}, "results": {"channels": [{"alternatives": [{}]}]}}, id="no-words"),
        pytest.param({"err_msg": "oops"}, id="no-results"),
    ],
)
def test_an_unusable_deepgram_answer_fails_invalid_response(deepgram, audio, answer):
    deepgram.post(DEEPGRAM_LISTEN_URL, json=answer)

    assert error_of(lambda: recognise(audio)).code == "invalid_response"


def test_not_configured_fails_without_calling_anyone(settings, mocked_http, audio):
    settings.TRANSCRIPTION_BACKEND = ""
    settings.TRANSCRIPTION_API_KEY = ""

    error = error_of(lambda: recognise(audio))

    assert error.code == "not_configured"
    assert len(mocked_http.calls) == 0


@pytest.mark.parametrize("backend", ["openai", "deepgram"])
def test_a_backend_without_its_key_fails_not_configured_without_calling_anyone(settings, mocked_http, audio, backend):
    configure_transcription(settings, backend)
    settings.TRANSCRIPTION_API_KEY = ""

    error = error_of(lambda: recognise(audio))

    assert error.code == "not_configured"
    assert "TRANSCRIPTION_API_KEY" in str(error)
    assert len(mocked_http.calls) == 0


# --- The key stays secret -----------------------------------------------------------------------


def echoing_the_key(status: int) -> dict:
    """An error answer quoting the whole key back, as a careless proxy might."""
    body = openai_error(status)
    body["error"]["message"] = f"Request with key {TRANSCRIPTION_API_KEY} failed (Bearer {TRANSCRIPTION_API_KEY})"
    return body


@pytest.mark.parametrize("backend", ["openai", "deepgram"])
@pytest.mark.parametrize("status", [400, 401, 403, 413, 429, 500])
def test_the_key_never_appears_in_an_error(settings, mocked_http, sleeps, audio, backend, status):
    configure_transcription(settings, backend)
    url = OPENAI_TRANSCRIPTIONS_URL if backend == "openai" else DEEPGRAM_LISTEN_URL
    body = echoing_the_key(status)
    if backend == "deepgram":
        body = {"err_code": "X", "err_msg": body["error"]["message"]}
    mocked_http.post(url, json=body, status=status)

    error = error_of(lambda: recognise(audio))

    assert TRANSCRIPTION_API_KEY not in str(error)
    assert TRANSCRIPTION_API_KEY not in repr(error.args)


@pytest.mark.parametrize("backend", ["openai", "deepgram"])
def test_the_key_never_appears_in_a_network_error(settings, mocked_http, sleeps, audio, backend):
    configure_transcription(settings, backend)
    url = OPENAI_TRANSCRIPTIONS_URL if backend == "openai" else DEEPGRAM_LISTEN_URL
    mocked_http.post(url, body=requests.ConnectionError(f"refused (Authorization: Bearer {TRANSCRIPTION_API_KEY})"))

    error = error_of(lambda: recognise(audio))

    assert error.code == "unreachable"
    assert TRANSCRIPTION_API_KEY not in str(error)


# --- Which provider -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "key", "expected"),
    [
        ("", "", None),
        ("", "sk-anything", "openai"),
        ("openai", "sk-anything", "openai"),
        ("deepgram", "dg-anything", "deepgram"),
        ("deepgram", "", "deepgram"),  # chosen, though unusable without its key: recognise says so
    ],
)
def test_provider_name(settings, backend, key, expected):
    settings.TRANSCRIPTION_BACKEND = backend
    settings.TRANSCRIPTION_API_KEY = key

    assert provider_name() == expected


def test_an_unknown_backend_is_not_configured(settings):
    settings.TRANSCRIPTION_BACKEND = "assemblyai"
    settings.TRANSCRIPTION_API_KEY = "key"

    assert error_of(provider_name).code == "not_configured"


# --- Settings -------------------------------------------------------------------------------------


def test_the_defaults():
    """Unless this environment sets them (a .env file included)."""
    defaults = {
        "TRANSCRIPTION_API_URL": "https://api.openai.com/v1",
        "TRANSCRIPTION_MODEL": "whisper-1",
        "DEEPGRAM_API_URL": "https://api.deepgram.com/v1",
        "DEEPGRAM_MODEL": "nova-3",
        "TRANSCRIPTION_TIMEOUT_SECONDS": 120.0,
        "TRANSCRIPTION_CHUNK_SECONDS": 600,
        "TRANSCRIPTION_MAX_RATE_LIMIT_WAIT_SECONDS": 30.0,
    }
    for name, default in defaults.items():
        if name not in os.environ:
            assert getattr(django_settings, name) == default, name


def import_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    """The settings module alone, in a fresh process, without the caller's own configuration."""
    return run_python("-c", "from django.conf import settings; print(settings.TRANSCRIPTION_BACKEND or '-')", env=env)


def test_production_refuses_a_backend_without_its_key():
    message = refusal(import_settings({**PRODUCTION_ENV, "TRANSCRIPTION_BACKEND": "deepgram"}))

    assert "TRANSCRIPTION_API_KEY must be set when TRANSCRIPTION_BACKEND is set" in message


def test_an_unknown_backend_is_refused_at_start_up():
    message = refusal(import_settings({**PRODUCTION_ENV, "TRANSCRIPTION_BACKEND": "assemblyai"}))

    assert "TRANSCRIPTION_BACKEND must be 'openai' or 'deepgram'" in message


@pytest.mark.parametrize(
    ("env", "backend"),
    [
        ({}, "-"),
        ({"TRANSCRIPTION_API_KEY": "sk-live"}, "-"),
        ({"TRANSCRIPTION_BACKEND": "Deepgram", "TRANSCRIPTION_API_KEY": "dg-live"}, "deepgram"),
    ],
)
def test_production_starts_with_transcription_off_or_fully_configured(env, backend):
    result = import_settings({**PRODUCTION_ENV, **env})

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == backend
