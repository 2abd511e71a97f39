"""Captions on render jobs: the spec's options, the transcript's words copied onto the job, and what Lambda gets."""

import pytest
from procrastinate.contrib.django.models import ProcrastinateJob

from clips.models import Transcript
from clips.transcripts import transcript_replace
from core.tests.helpers import error_code, error_details
from renders import services
from renders.models import RenderJob
from renders.tests.test_dispatch import input_props_sent

pytestmark = pytest.mark.django_db


# The 3-second clip's transcript: words before, across both edges of, inside and after the 1.0-2.0 s trim.
TRANSCRIPT = [
    {"text": "before", "start": 0.1, "end": 0.5},
    {"text": "Clutch", "start": 0.8, "end": 1.2},
    {"text": "no", "start": 1.3, "end": 1.5},
    {"text": "way", "start": 1.5, "end": 1.75},
    {"text": "chat", "start": 1.9, "end": 2.3},
    {"text": "after", "start": 2.4, "end": 2.9},
]
TRIM = {"trim_start": 1.0, "trim_end": 2.0}
# The words of that window, cut to it and shifted to start at 0.
WINDOW_WORDS = [
    {"text": "Clutch", "start": 0.0, "end": 0.2},
    {"text": "no", "start": 0.3, "end": 0.5},
    {"text": "way", "start": 0.5, "end": 0.75},
    {"text": "chat", "start": 0.9, "end": 1.0},
]
CAPTIONS = {"style": "pop", "position": "top", "max_words": 2, "uppercase": True, "highlight_color": "#00FF88"}


@pytest.fixture
def transcribed_clip(ready_clip):
    """The ready clip, with a ready transcript of TRANSCRIPT."""
    transcript_replace(clip=ready_clip, words=TRANSCRIPT, language="en")
    return ready_clip


def stored_captions(response) -> dict | None:
    """The captions stored on the created job; None when the spec asked for none (the key is then absent)."""
    assert response.status_code == 201, response.content
    input_props = RenderJob.objects.get(pk=response.json()["id"]).input_props
    assert input_props.get("captions", "absent") != {}, input_props
    return input_props.get("captions")


# --- The transcript must be ready -----------------------------------------------------------------


def test_captions_on_a_clip_without_a_transcript_are_refused(post_render):
    response = post_render({**TRIM, "captions": {"style": "karaoke"}})

    assert response.status_code == 400
    assert error_code(response) == "transcript_not_ready"
    assert list(error_details(response)["props"]) == ["captions"]
    assert not RenderJob.objects.exists()
    assert not ProcrastinateJob.objects.exists()


@pytest.mark.parametrize("status", [Transcript.Status.PENDING, Transcript.Status.RUNNING, Transcript.Status.FAILED])
def test_captions_on_a_clip_whose_transcript_is_not_ready_are_refused(post_render, ready_clip, status):
    Transcript.objects.create(clip=ready_clip, status=status, words=TRANSCRIPT)

    response = post_render({**TRIM, "captions": {"style": "karaoke"}})

    assert response.status_code == 400
    assert error_code(response) == "transcript_not_ready"
    assert not RenderJob.objects.exists()


def test_a_render_without_captions_needs_no_transcript(post_render):
    response = post_render(TRIM)

    assert response.status_code == 201, response.content
    assert stored_captions(response) is None


@pytest.mark.parametrize("captions", [None, {}])
def test_captions_left_null_or_empty_ask_for_none_or_the_defaults(post_render, transcribed_clip, captions):
    response = post_render({**TRIM, "captions": captions})

    stored = stored_captions(response)
    if captions is None:
        assert stored is None
    else:
        assert stored == {
            "style": "karaoke",
            "position": "bottom",
            "max_words": 3,
            "uppercase": False,
            "highlight_color": "#FFD400",
            "words": WINDOW_WORDS,
        }


# --- The words copied onto the job ----------------------------------------------------------------


def test_the_job_stores_the_trimmed_windows_words_shifted_to_start_at_zero(post_render, transcribed_clip):
    response = post_render({**TRIM, "captions": {"style": "karaoke"}})

    captions = stored_captions(response)
    assert captions["words"] == WINDOW_WORDS
    assert captions["style"] == "karaoke"
    assert response.json()["input_props"]["captions"]["words"] == WINDOW_WORDS


def test_words_ending_at_the_trim_start_or_starting_at_the_trim_end_are_left_out(post_render, ready_clip):
    words = [
        {"text": "ends-at-start", "start": 0.5, "end": 1.0},
        {"text": "inside", "start": 1.0, "end": 1.4},
        {"text": "also", "start": 1.6, "end": 2.0},
        {"text": "starts-at-end", "start": 2.0, "end": 2.5},
    ]
    transcript_replace(clip=ready_clip, words=words)

    captions = stored_captions(post_render({**TRIM, "captions": {}}))

    assert captions["words"] == [
        {"text": "inside", "start": 0.0, "end": 0.4},
        {"text": "also", "start": 0.6, "end": 1.0},
    ]


def test_the_captions_options_are_stored_as_asked(post_render, transcribed_clip):
    captions = stored_captions(post_render({**TRIM, "captions": CAPTIONS}))

    assert captions == {**CAPTIONS, "words": WINDOW_WORDS}


def test_words_sent_by_the_client_are_ignored(post_render, transcribed_clip):
    forged = [{"text": "forged", "start": 0.0, "end": 1.0}]

    captions = stored_captions(post_render({**TRIM, "captions": {"style": "pop", "words": forged}}))

    assert captions["words"] == WINDOW_WORDS


def test_a_later_correction_of_the_transcript_never_changes_the_jobs_words(
    api_client, bearer, owner, post_render, transcribed_clip
):
    job_id = post_render({**TRIM, "captions": {"style": "karaoke"}}).json()["id"]

    corrected = [{"text": "Different", "start": 1.0, "end": 1.9}]
    response = api_client.put(
        f"/api/clips/{transcribed_clip.pk}/transcript/", {"words": corrected}, format="json", **bearer(owner)
    )

    assert response.status_code == 200
    assert RenderJob.objects.get(pk=job_id).input_props["captions"]["words"] == WINDOW_WORDS
    # A new render takes the corrected words.
    captions = stored_captions(post_render({**TRIM, "captions": {"style": "karaoke"}}))
    assert captions["words"] == [{"text": "Different", "start": 0.0, "end": 0.9}]


def test_a_retried_job_keeps_the_words_it_was_created_with(new_job, transcribed_clip):
    job = new_job(RenderJob.Status.FAILED, props={**TRIM, "captions": {"style": "karaoke"}})
    transcript_replace(clip=transcribed_clip, words=[{"text": "Different", "start": 1.0, "end": 1.9}])

    assert services.render_job_retry(job=job)

    job.refresh_from_db()
    assert job.status == RenderJob.Status.QUEUED
    assert job.input_props["captions"]["words"] == WINDOW_WORDS


# --- The captions options are validated -------------------------------------------------------------


@pytest.mark.parametrize(
    ("captions", "field"),
    [
        pytest.param({"style": "comic"}, "style", id="unknown-style"),
        pytest.param({"position": "left"}, "position", id="unknown-position"),
        pytest.param({"max_words": 0}, "max_words", id="max-words-0"),
        pytest.param({"max_words": 7}, "max_words", id="max-words-7"),
        pytest.param({"max_words": "many"}, "max_words", id="max-words-not-a-number"),
        pytest.param({"uppercase": "sometimes"}, "uppercase", id="uppercase-not-a-boolean"),
        pytest.param({"highlight_color": "red"}, "highlight_color", id="colour-by-name"),
        pytest.param({"highlight_color": "#FFF"}, "highlight_color", id="colour-short-hex"),
        pytest.param({"highlight_color": "FFD400"}, "highlight_color", id="colour-without-hash"),
        pytest.param({"highlight_color": "#FFD4001"}, "highlight_color", id="colour-too-long"),
    ],
)
def test_an_invalid_captions_option_is_refused_with_its_field_under_props_captions(
    post_render, transcribed_clip, captions, field
):
    response = post_render({**TRIM, "captions": captions})

    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert list(error_details(response)["props"]["captions"]) == [field]
    assert not RenderJob.objects.exists()


@pytest.mark.parametrize("captions", ["karaoke", ["karaoke"], True])
def test_captions_that_are_not_an_object_are_refused(post_render, transcribed_clip, captions):
    response = post_render({**TRIM, "captions": captions})

    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert "captions" in error_details(response)["props"]


@pytest.mark.parametrize("max_words", [1, 6])
def test_one_to_six_words_a_page_are_accepted(post_render, transcribed_clip, max_words):
    assert stored_captions(post_render({**TRIM, "captions": {"max_words": max_words}}))["max_words"] == max_words


# --- What Remotion Lambda gets ----------------------------------------------------------------------


def test_lambda_gets_the_windows_words_as_remotion_captions_and_the_style(
    remotion_settings, fake_lambda, new_job, transcribed_clip
):
    job = new_job(props={**TRIM, "captions": CAPTIONS})

    assert services.render_dispatch(job_id=str(job.pk)) == "dispatched"

    props = input_props_sent(fake_lambda.starts[0])
    assert props["captions"] == [
        {"text": "Clutch", "startMs": 0, "endMs": 200, "timestampMs": 0, "confidence": None},
        {"text": " no", "startMs": 300, "endMs": 500, "timestampMs": 300, "confidence": None},
        {"text": " way", "startMs": 500, "endMs": 750, "timestampMs": 500, "confidence": None},
        {"text": " chat", "startMs": 900, "endMs": 1000, "timestampMs": 900, "confidence": None},
    ]
    assert props["caption_style"] == CAPTIONS
    assert (props["trim_start"], props["trim_end"]) == (1.0, 2.0)


def test_lambda_gets_the_words_stored_on_the_job_not_the_transcripts_latest(
    remotion_settings, fake_lambda, new_job, transcribed_clip
):
    job = new_job(props={**TRIM, "captions": {"style": "karaoke"}})
    transcript_replace(clip=transcribed_clip, words=[{"text": "Different", "start": 1.0, "end": 1.9}])

    services.render_dispatch(job_id=str(job.pk))

    props = input_props_sent(fake_lambda.starts[0])
    assert [caption["text"].strip() for caption in props["captions"]] == ["Clutch", "no", "way", "chat"]


def test_lambda_gets_no_captions_when_none_were_asked_for(remotion_settings, fake_lambda, new_job, transcribed_clip):
    job = new_job(props=TRIM)

    services.render_dispatch(job_id=str(job.pk))

    props = input_props_sent(fake_lambda.starts[0])
    assert (props["captions"], props["caption_style"]) == (None, None)


# --- Analytics -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("captions", "caption_style"), [({"style": "subtitle"}, "subtitle"), (None, None)])
def test_render_requested_carries_the_caption_style(
    post_render, transcribed_clip, analytics_events, committed, captions, caption_style
):
    with committed():
        response = post_render({**TRIM, "captions": captions})

    assert response.status_code == 201, response.content
    [(name, _, properties)] = analytics_events()
    assert name == "render requested"
    assert properties["caption_style"] == caption_style
    assert properties["job_id"] == response.json()["id"]


def test_every_prop_lambda_gets_is_in_the_published_input_props_schema(
    api_client, remotion_settings, fake_lambda, new_job, transcribed_clip
):
    job = new_job(props={**TRIM, "title": "Clutch", "captions": CAPTIONS})
    services.render_dispatch(job_id=str(job.pk))
    props = input_props_sent(fake_lambda.starts[0])

    schemas = api_client.get("/api/schema/?format=json").json()["components"]["schemas"]
    contract = schemas["RemotionInputProps"]["allOf"]
    assert contract[0] == {"$ref": "#/components/schemas/LayoutSpec"}
    published = set(schemas["LayoutSpec"]["properties"]) | set(contract[1]["properties"])
    assert set(props) <= published, set(props) - published
    assert set(props["caption_style"]) | {"words"} == set(schemas["Captions"]["properties"])
    assert set(props["captions"][0]) == set(contract[1]["properties"]["captions"]["items"]["properties"])
