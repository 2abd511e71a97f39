"""`"layout": "auto"` renders the clip's detected layout; `fill` may centre its crop on a point (the face)."""

from pathlib import Path

import pytest

from clips.media import probe_video
from clips.models import LayoutSuggestion
from clips.tests.factories import make_clip
from clips.tests.layout_clips import iou
from core.tests.helpers import error_code, error_details
from renders.backends import local as local_backend
from renders.models import RenderJob
from renders.tests.factories import make_job, make_preset
from renders.tests.test_captions import H, W, band, changed

SPLIT = {
    "layout": "split",
    "facecam": {"x": 0.7, "y": 0.0, "width": 0.3, "height": 0.3},
    "gameplay": {"x": 0.0, "y": 0.0, "width": 0.7, "height": 1.0},
    "focus": None,
}


def suggest(clip, *, status=LayoutSuggestion.Status.READY, **fields) -> LayoutSuggestion:
    return LayoutSuggestion.objects.create(clip=clip, status=status, confidence=0.9, **{**SPLIT, **fields})


def stored_props(response) -> dict:
    assert response.status_code == 201, response.content
    return RenderJob.objects.get(pk=response.json()["id"]).input_props


@pytest.mark.django_db
def test_auto_before_the_suggestion_is_ready_is_a_400_layout_not_ready(post_render, ready_clip):
    suggest(ready_clip, status=LayoutSuggestion.Status.RUNNING)

    response = post_render({"layout": "auto"})

    assert response.status_code == 400
    assert error_code(response) == "layout_not_ready"
    assert "layout" in error_details(response)["props"]


@pytest.mark.django_db
def test_auto_renders_the_detected_split_and_the_job_stores_the_concrete_layout(post_render, ready_clip):
    suggest(ready_clip)

    props = stored_props(post_render({"layout": "auto", "trim_start": 0, "trim_end": 1}))

    assert props["layout"] == "split"
    assert props["facecam"] == SPLIT["facecam"]
    assert props["gameplay"] == SPLIT["gameplay"]
    assert "focus" not in props


@pytest.mark.django_db
def test_auto_on_a_just_chatting_clip_renders_fill_focused_on_the_face(post_render, ready_clip):
    suggest(
        ready_clip,
        layout="fill",
        facecam=None,
        gameplay={"x": 0, "y": 0, "width": 1, "height": 1},
        focus={"x": 0.3, "y": 0.4},
    )

    props = stored_props(post_render({"layout": "auto", "trim_start": 0, "trim_end": 1}))

    assert (props["layout"], props["focus"]) == ("fill", {"x": 0.3, "y": 0.4})
    assert "facecam" not in props


@pytest.mark.django_db
@pytest.mark.parametrize(("layout", "auto_layout"), [("auto", True), ("split", False)])
def test_render_requested_says_whether_auto_was_used(
    post_render, ready_clip, analytics_events, committed, layout, auto_layout
):
    suggest(ready_clip)

    with committed():
        response = post_render({**SPLIT, "layout": layout, "trim_start": 0, "trim_end": 1})

    assert response.status_code == 201, response.content
    [(name, _, properties)] = analytics_events()
    assert (name, properties["auto_layout"]) == ("render requested", auto_layout)


@pytest.mark.django_db
def test_a_suggestion_posted_back_as_it_is_is_a_valid_spec(post_render, ready_clip):
    suggestion = {**SPLIT, "layout": "fit_blur", "facecam": None, "confidence": 0.42}

    props = stored_props(post_render({**suggestion, "trim_start": 0, "trim_end": 1}))

    assert props["layout"] == "fit_blur"
    assert "confidence" not in props


@pytest.mark.django_db
def test_the_api_shows_the_suggestion_and_a_stranger_cannot_ask_for_one(
    api_client, bearer, owner, stranger, ready_clip
):
    suggest(ready_clip)

    mine = api_client.get(f"/api/clips/{ready_clip.pk}/", **bearer(owner)).json()["layout_suggestion"]
    theirs = api_client.post(f"/api/clips/{ready_clip.pk}/detect-layout/", **bearer(stranger))

    assert mine == {"status": "ready", "confidence": 0.9, "error": "", **SPLIT}
    assert theirs.status_code == 404


@pytest.mark.django_db
def test_detection_before_the_media_is_ready_is_a_409(api_client, bearer, owner):
    clip = make_clip(owner)

    response = api_client.post(f"/api/clips/{clip.pk}/detect-layout/", **bearer(owner))

    assert response.status_code == 409
    assert error_code(response) == "media_not_ready"


# --- fill, centred on a point ---------------------------------------------------------------------


@pytest.fixture
def small_preset(db):
    return make_preset(name="Vertical 360p", slug="vertical-360p", width=W, height=H, fps=30)


def render_fill(owner, clip, preset, focus) -> Path:
    spec = {"trim_start": 0.2, "trim_end": 0.8, "aspect": "9:16", "layout": "fill", "title": "", "focus": focus}
    job = make_job(owner, clip, preset, props=spec)
    name = local_backend.render_job_locally(job, on_progress=lambda progress: True)
    return Path(job.output_file.storage.path(name))


@pytest.mark.django_db
def test_fill_centres_its_crop_on_the_focus_and_keeps_it_inside_the_frame(
    owner, ready_clip, small_preset, local_render_settings, work_dir
):
    centre = band(render_fill(owner, ready_clip, small_preset, None), 0.3, (0, H))
    left = band(render_fill(owner, ready_clip, small_preset, {"x": 0.0, "y": 0.5}), 0.3, (0, H))
    right = band(render_fill(owner, ready_clip, small_preset, {"x": 1.0, "y": 0.5}), 0.3, (0, H))
    middle = band(render_fill(owner, ready_clip, small_preset, {"x": 0.5, "y": 0.5}), 0.3, (0, H))

    assert len(changed(left, right)) > W * H // 10  # a different part of the frame
    assert len(changed(left, centre)) > W * H // 10
    assert len(changed(middle, centre)) < W * H // 100  # centred on the middle: the plain fill


# --- The whole flow ---------------------------------------------------------------------------------


def upload(api_client, bearer, owner, path) -> str:
    with path.open("rb") as video:
        response = api_client.post("/api/clips/", {"file": video}, format="multipart", **bearer(owner))
    assert response.status_code == 201, response.content
    return response.json()["id"]


@pytest.mark.django_db(transaction=True)
def test_an_uploaded_clip_gets_a_split_suggestion_and_auto_renders_it(
    api_client, bearer, owner, facecam_clip, run_queued_jobs, media_root, preset, local_render_settings, work_dir
):
    path, truth = facecam_clip
    clip_id = upload(api_client, bearer, owner, path)
    run_queued_jobs()

    suggestion = api_client.get(f"/api/clips/{clip_id}/", **bearer(owner)).json()["layout_suggestion"]
    assert suggestion["status"] == "ready", suggestion
    assert suggestion["layout"] == "split"
    assert iou(suggestion["facecam"], truth.facecam) >= 0.7
    assert 0 < suggestion["confidence"] <= 1

    render = {"clip": clip_id, "preset": preset.slug, "props": {"layout": "auto", "trim_start": 0, "trim_end": 1}}
    response = api_client.post("/api/renders/", render, format="json", **bearer(owner))
    assert response.status_code == 201, response.content
    run_queued_jobs()

    job = RenderJob.objects.get(pk=response.json()["id"])
    assert job.status == RenderJob.Status.SUCCEEDED, job.error_message
    assert (job.input_props["layout"], job.input_props["facecam"]) == ("split", suggestion["facecam"])
    info = probe_video(job.output_file.path)
    assert (info.width, info.height) == (preset.width, preset.height)
