"""Captions end to end, through the API only: a creator uploads a clip, has it transcribed, fixes a word,
renders it with karaoke captions on the local backend and downloads a 9:16 MP4 with the words burned in."""

from pathlib import Path

import pytest
from django.core.files import File

from clips.media import probe_video
from integrations.tests.fakes import OPENAI_TRANSCRIPTIONS_URL, configure_transcription, serve_openai_transcription
from renders.models import RenderJob
from renders.tests.factories import make_preset
from renders.tests.test_captions import CAPTION_BAND, TEXT_PIXELS, H, W, band, changed

CLIPS = "/api/clips/"
RENDERS = "/api/renders/"

# What the provider hears in the 3-second clip (Whisper's shape: a space before each word); "whey" is misheard.
SPOKEN = [(" Clutch", 0.2, 0.6), (" no", 0.6, 0.9), (" whey", 0.9, 1.4)]
# Two seconds of the clip, full-frame 9:16.
SPEC = {"trim_start": 0.0, "trim_end": 2.0, "aspect": "9:16", "layout": "fill", "title": ""}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("local_render_settings", "work_dir")
def test_an_uploaded_clip_is_transcribed_corrected_and_rendered_with_its_captions_burned_in(
    api_client, bearer, owner, mocked_http, settings, run_queued_jobs, landscape_video, tmp_path
):
    configure_transcription(settings, "openai")
    preset = make_preset(name="Vertical 360p", slug="vertical-360p", width=W, height=H, fps=30)
    creator = bearer(owner)

    # Upload a real 3-second video with a tone as its audio track.
    with landscape_video.open("rb") as video:
        response = api_client.post(CLIPS, {"file": File(video, name="clutch.mp4")}, format="multipart", **creator)
    assert response.status_code == 201, response.content
    assert response.json()["media_status"] == "ready"
    clip_id = response.json()["id"]
    clip_url = f"{CLIPS}{clip_id}/"

    # Ask for the transcript; the queue extracts the audio and sends it to the provider.
    serve_openai_transcription(mocked_http, SPOKEN)
    assert api_client.post(f"{clip_url}transcribe/", {}, format="json", **creator).status_code == 202
    run_queued_jobs()

    [call] = [call for call in mocked_http.calls if call.request.url == OPENAI_TRANSCRIPTIONS_URL]
    assert b"OggS" in call.request.body  # the clip's audio, extracted
    transcript = api_client.get(f"{clip_url}transcript/", **creator).json()
    assert (transcript["status"], transcript["source"]) == ("ready", "recognised")
    assert [word["text"] for word in transcript["words"]] == ["Clutch", "no", "whey"]

    # Fix the misheard word.
    words = transcript["words"]
    words[2] = {**words[2], "text": "way"}
    response = api_client.put(f"{clip_url}transcript/", {"words": words}, format="json", **creator)
    assert response.status_code == 200, response.content
    assert response.json()["source"] == "edited"

    # Render it with karaoke captions, and the same window without any, to compare against.
    renders = {}
    for name, props in (("captioned", {**SPEC, "captions": {"style": "karaoke"}}), ("plain", SPEC)):
        data = {"clip": clip_id, "preset": preset.slug, "props": props}
        response = api_client.post(RENDERS, data, format="json", **creator)
        assert response.status_code == 201, response.content
        renders[name] = response.json()["id"]
    run_queued_jobs()

    videos = {}
    for name, job_id in renders.items():
        detail = api_client.get(f"{RENDERS}{job_id}/", **creator).json()
        assert detail["status"] == "succeeded", detail
        videos[name] = download(api_client, creator, job_id, tmp_path / f"{name}.mp4")

    info = probe_video(videos["captioned"])
    assert (info.width, info.height) == (W, H)
    assert info.width * 16 == info.height * 9
    # While the corrected word is said, the caption band shows text the plain render does not have.
    at = 1.15
    text = changed(band(videos["plain"], at, CAPTION_BAND), band(videos["captioned"], at, CAPTION_BAND))
    assert len(text) > TEXT_PIXELS, f"no caption at {at} s"
    # The job keeps the words it was rendered with: the corrected one.
    stored = RenderJob.objects.get(pk=renders["captioned"]).input_props["captions"]["words"]
    assert [word["text"] for word in stored] == ["Clutch", "no", "way"]
    assert stored[2] == {"text": "way", "start": 0.9, "end": 1.4}


def download(api_client, headers: dict, job_id: str, path: Path) -> Path:
    """GET /api/renders/{id}/download/ (the file itself with local storage), written to `path`."""
    response = api_client.get(f"{RENDERS}{job_id}/download/", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4"
    content = b"".join(response.streaming_content)
    response.close()
    assert content[4:8] == b"ftyp"  # an MP4
    path.write_bytes(content)
    return path
