"""Staff views of clips and imports, and their actions."""

from datetime import timedelta

import pytest
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from accounts.tests.factories import link_twitch
from clips.models import Clip, ClipImport
from clips.tests.factories import make_clip, make_import
from core.tests.helpers import run_action

pytestmark = pytest.mark.django_db

CLIPS = "/admin/clips/clip/"
IMPORTS = "/admin/clips/clipimport/"


def jobs(task_name: str) -> list[dict]:
    return [job.args for job in ProcrastinateJob.objects.filter(task_name=task_name)]


# --- Clips ------------------------------------------------------------------------------------


def test_the_clip_list_loads_with_every_filter(staff_client, owner):
    make_clip(owner, title="Featured ready clip", is_featured=True, media_status=Clip.MediaStatus.READY, game_id="743")
    make_clip(owner, title="Plain clip", game_id="509658")
    response = staff_client.get(
        CLIPS,
        {
            "source__exact": "twitch",
            "media_status__exact": "ready",
            "is_featured__exact": "1",
            "has_portrait__exact": "0",
            "game_id": "743",
            "clip_created_at__gte": (timezone.now() - timedelta(days=365)).isoformat(),
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Featured ready clip" in page
    assert "Plain clip" not in page


def test_the_clip_list_drills_down_by_date(staff_client, owner):
    clip = make_clip(owner, title="Dated clip")
    created = clip.clip_created_at
    response = staff_client.get(CLIPS, {"clip_created_at__year": created.year, "clip_created_at__month": created.month})
    assert response.status_code == 200
    assert "Dated clip" in response.content.decode()


@pytest.mark.parametrize("query", ["Insane clutch", "ClipperFan", "AwkwardSalamander-abc"])
def test_clips_are_searchable_by_title_creator_and_twitch_id(staff_client, owner, query):
    make_clip(owner, title="Insane clutch", creator_name="ClipperFan", twitch_clip_id="AwkwardSalamander-abc")
    make_clip(owner, title="Other clip", creator_name="Someone", twitch_clip_id="Other-xyz")
    page = staff_client.get(CLIPS, {"q": query}).content.decode()
    assert "Insane clutch" in page
    assert "Other clip" not in page


def test_a_clip_page_shows_its_probed_media_read_only(staff_client, owner):
    clip = make_clip(owner, media_width=1920, media_height=1080)
    page = staff_client.get(f"{CLIPS}{clip.pk}/change/").content.decode()
    assert "1920" in page
    assert 'name="media_width"' not in page
    assert 'name="title"' in page


def test_refetch_media_queues_downloads_for_twitch_clips_only(staff_client, owner):
    first, second = make_clip(owner), make_clip(owner)
    uploaded = make_clip(owner, source=Clip.Source.UPLOAD, twitch_clip_id=None)
    messages = run_action(staff_client, CLIPS, "refetch_media", [first, second, uploaded])
    queued = jobs("clips.tasks.fetch_clip_media")
    assert sorted(job["clip_id"] for job in queued) == sorted([str(first.pk), str(second.pk)])
    assert set(Clip.objects.filter(source="twitch").values_list("media_status", flat=True)) == {"downloading"}
    uploaded.refresh_from_db()
    assert uploaded.media_status == Clip.MediaStatus.NONE
    assert messages == ["Queued the media download of 2 of 3. Skipped 1: uploads and running downloads."]


def test_refetch_media_does_not_queue_a_clip_already_downloading(staff_client, owner):
    clip = make_clip(owner, media_status=Clip.MediaStatus.DOWNLOADING)
    run_action(staff_client, CLIPS, "refetch_media", [clip])
    assert jobs("clips.tasks.fetch_clip_media") == []


def test_refetch_media_reports_only_the_downloads_it_queued(staff_client, owner):
    clip = make_clip(owner, media_status=Clip.MediaStatus.DOWNLOADING)
    messages = run_action(staff_client, CLIPS, "refetch_media", [clip])
    assert messages == ["Queued the media download of 0 of 1. Skipped 1: uploads and running downloads."]


def test_reimport_starts_an_import_for_the_clips_owner(staff_client, streamer):
    clip = make_clip(streamer)
    messages = run_action(staff_client, CLIPS, "reimport", [clip])
    clip_import = ClipImport.objects.get()
    assert clip_import.user == streamer
    assert clip_import.status == ClipImport.Status.QUEUED
    assert clip_import.since == clip.clip_created_at
    assert clip_import.until == clip.clip_created_at + timedelta(seconds=1)
    assert jobs("clips.tasks.run_clip_import") == [{"clip_import_id": str(clip_import.pk)}]
    assert messages == ["Queued an import for 1 of 1."]


def test_reimport_covers_every_selected_clip_of_an_owner(staff_client, streamer):
    now = timezone.now()
    oldest = make_clip(streamer, clip_created_at=now - timedelta(days=10))
    middle = make_clip(streamer, clip_created_at=now - timedelta(days=5))
    newest = make_clip(streamer, clip_created_at=now - timedelta(days=1))
    run_action(staff_client, CLIPS, "reimport", [oldest, middle, newest])
    clip_import = ClipImport.objects.get()
    assert clip_import.since == oldest.clip_created_at
    assert clip_import.until == newest.clip_created_at + timedelta(seconds=1)


def test_reimport_starts_one_import_per_owner(staff_client, streamer, stranger):
    link_twitch(stranger, twitch_user_id="654321", login="strangerstreams")
    run_action(staff_client, CLIPS, "reimport", [make_clip(streamer), make_clip(stranger), make_clip(stranger)])
    assert sorted(ClipImport.objects.values_list("user__username", flat=True)) == ["owner", "stranger"]


def test_reimport_warns_about_owners_without_twitch(staff_client, owner):
    messages = run_action(staff_client, CLIPS, "reimport", [make_clip(owner)])
    assert not ClipImport.objects.exists()
    assert messages == [
        f"{owner}: Link your Twitch account first.",
        "Queued an import for 0 of 1. Refused 1: see above.",
    ]


def test_reimport_warns_when_an_import_is_already_running(staff_client, streamer):
    running = make_import(streamer, status=ClipImport.Status.RUNNING)
    messages = run_action(staff_client, CLIPS, "reimport", [make_clip(streamer)])
    assert list(ClipImport.objects.all()) == [running]
    assert messages == [
        f"{streamer}: An import is already running for this account.",
        "Queued an import for 0 of 1. Refused 1: see above.",
    ]


def test_reimport_ignores_uploads(staff_client, streamer):
    run_action(staff_client, CLIPS, "reimport", [make_clip(streamer, source=Clip.Source.UPLOAD, twitch_clip_id=None)])
    assert not ClipImport.objects.exists()


# --- Imports ----------------------------------------------------------------------------------


def test_the_import_list_loads_with_its_filters(staff_client, owner):
    make_import(owner, status=ClipImport.Status.FAILED, error="Twitch is unavailable (HTTP 503).")
    response = staff_client.get(IMPORTS, {"status__exact": "failed"})
    assert response.status_code == 200
    assert "Twitch is unavailable (HTTP 503)." in response.content.decode()
    assert staff_client.get(IMPORTS, {"q": owner.email}).status_code == 200


def test_imports_cannot_be_added_or_edited_by_hand(staff_client, owner):
    clip_import = make_import(owner)
    assert staff_client.get(f"{IMPORTS}add/").status_code == 403
    page = staff_client.get(f"{IMPORTS}{clip_import.pk}/change/").content.decode()
    assert 'name="status"' not in page


def test_resume_requeues_a_failed_import_and_skips_the_others(staff_client, owner, stranger):
    failed = make_import(owner, status=ClipImport.Status.FAILED, error="Twitch is unavailable (HTTP 503).")
    succeeded = make_import(stranger, status=ClipImport.Status.SUCCEEDED, finished_at=timezone.now())
    messages = run_action(staff_client, IMPORTS, "resume", [failed, succeeded])
    failed.refresh_from_db()
    succeeded.refresh_from_db()
    assert (failed.status, failed.error, failed.finished_at) == (ClipImport.Status.QUEUED, "", None)
    assert succeeded.status == ClipImport.Status.SUCCEEDED
    assert jobs("clips.tasks.run_clip_import") == [{"clip_import_id": str(failed.pk)}]
    assert messages == ["Resumed 1 of 2. Skipped 1: not failed, or another import of the user is running."]


def test_resume_skips_a_failed_import_while_another_of_that_user_runs(staff_client, owner):
    failed = make_import(owner, status=ClipImport.Status.FAILED)
    make_import(owner, status=ClipImport.Status.RUNNING)
    messages = run_action(staff_client, IMPORTS, "resume", [failed])
    failed.refresh_from_db()
    assert failed.status == ClipImport.Status.FAILED
    assert jobs("clips.tasks.run_clip_import") == []
    assert messages == ["Resumed 0 of 1. Skipped 1: not failed, or another import of the user is running."]
