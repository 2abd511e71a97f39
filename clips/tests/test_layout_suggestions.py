"""Layout suggestions: detected once the media is ready, shown on the clip, rendered by `"layout": "auto"`."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from clips import layouts
from clips.models import LayoutSuggestion
from clips.tests.factories import make_clip
from clips.tests.layout_clips import make_audio_only
from core.tests.concurrency import lock_held_elsewhere
from core.tests.helpers import run_action

CLIPS = "/api/clips/"
Status = LayoutSuggestion.Status


@pytest.mark.django_db(transaction=True)
def test_an_audio_only_file_ends_failed_with_a_clear_error(owner, tmp_path, run_queued_jobs, media_root):
    clip = make_clip(owner, media_status="ready")
    clip.media_file.save("audio.m4a", make_audio_only(tmp_path / "audio.m4a").open("rb"), save=True)

    layouts.layout_detection_request(clip=clip)
    run_queued_jobs()

    suggestion = LayoutSuggestion.objects.get(clip=clip)
    assert suggestion.status == Status.FAILED
    assert suggestion.error == "The clip's file has no video we can read."


@pytest.mark.django_db(transaction=True)
def test_a_corrupt_file_ends_failed_never_running(owner, run_queued_jobs, media_root):
    clip = make_clip(owner, media_status="ready")
    clip.media_file.save("broken.mp4", io.BytesIO(b"\x00\x00\x00\x18ftypmp42 not a video"), save=True)

    layouts.layout_detection_request(clip=clip)
    run_queued_jobs()

    assert LayoutSuggestion.objects.get(clip=clip).status == Status.FAILED


@pytest.mark.django_db
def test_a_second_request_while_one_is_queued_queues_nothing_more(owner, media_root):
    clip = make_clip(owner, media_status="ready", media_file="clips/x/y/video.mp4")

    first = layouts.layout_detection_request(clip=clip)
    again = layouts.layout_detection_request(clip=clip)

    assert first.pk == again.pk
    assert again.status == Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_a_detection_another_worker_holds_is_left_alone(owner, media_root):
    clip = make_clip(owner, media_status="ready", media_file="clips/x/y/video.mp4")
    suggestion = layouts.layout_detection_request(clip=clip)

    with lock_held_elsewhere(f"layout:{suggestion.pk}"):
        assert layouts.layout_detect(suggestion_id=str(suggestion.pk)) is None

    suggestion.refresh_from_db()
    assert suggestion.status == Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_a_detection_whose_worker_died_is_failed_for_a_retry(owner):
    clip = make_clip(owner, media_status="ready", media_file="clips/x/y/video.mp4")
    started = timezone.now() - timedelta(minutes=31)
    suggestion = LayoutSuggestion.objects.create(
        clip=clip, status=Status.RUNNING, requested_at=started, started_at=started
    )

    assert layouts.layout_suggestions_recover_stalled() == [str(suggestion.pk)]
    suggestion.refresh_from_db()
    assert suggestion.status == Status.FAILED


@pytest.mark.django_db(transaction=True)
def test_staff_see_the_frame_with_the_rectangles_and_can_run_it_again(
    staff_client, owner, facecam_clip, run_queued_jobs, media_root, work_dir
):
    path, _ = facecam_clip
    clip = make_clip(owner, media_status="ready", media_duration=6.0)
    clip.media_file.save("facecam.mp4", path.open("rb"), save=True)
    layouts.layout_detection_request(clip=clip)
    run_queued_jobs()

    page = staff_client.get(f"/admin/clips/clip/{clip.pk}/change/").content.decode()
    messages = run_action(staff_client, "/admin/clips/clip/", "redetect_layout", [clip])

    suggestion = LayoutSuggestion.objects.get(clip=clip)
    assert suggestion.still.name
    assert suggestion.still.storage.exists(suggestion.still.name)
    assert 'alt="detected layout"' in page
    assert messages == ["Queued the layout detection of 1 of 1."]
    assert suggestion.status == Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_a_detection_announces_its_layout_confidence_and_time(
    owner, facecam_clip, run_queued_jobs, media_root, work_dir, analytics_events
):
    path, _ = facecam_clip
    clip = make_clip(owner, media_status="ready", media_duration=6.0)
    clip.media_file.save("facecam.mp4", path.open("rb"), save=True)

    layouts.layout_detection_request(clip=clip)
    run_queued_jobs()

    [properties] = [props for name, _, props in analytics_events() if name == "layout detected"]
    suggestion = LayoutSuggestion.objects.get(clip=clip)
    assert properties == {
        "clip_id": str(clip.pk),
        "layout": "split",
        "confidence": suggestion.confidence,
        "seconds": suggestion.seconds,
    }
