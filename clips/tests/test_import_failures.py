"""An import always ends: any failure fails it resumably, bad clips never take their page down, and imports whose
worker died are recovered so they can be resumed."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from procrastinate.contrib.django import app as queue_app
from procrastinate.contrib.django.models import ProcrastinateJob
from responses import matchers

from clips.models import Clip, ClipImport
from clips.services import (
    clip_import_resume,
    clip_import_run,
    clip_import_start,
    clip_imports_recover_stalled,
)
from core.queue import defer
from core.tests.concurrency import lock_held_elsewhere
from core.tests.helpers import run_action
from integrations.tests.fakes import BROADCASTER_ID, CLIPS_URL, helix_clip, helix_page, helix_time
from integrations.twitch import TwitchClient

SINCE = datetime(2026, 1, 5, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=7)
WORKER_STOPPED = "The import's worker stopped; resume it."


@pytest.fixture(autouse=True)
def import_settings(twitch_settings):
    twitch_settings.CLIP_IMPORT_DEFAULT_DAYS = 30
    twitch_settings.CLIP_IMPORT_WINDOW_DAYS = 7
    twitch_settings.CLIP_IMPORT_STALLED_MINUTES = 30
    return twitch_settings


def serve(mock, *, after: str | None = None, **answer) -> None:
    """Answer the Helix /clips query for the import's week at this cursor (any body, even one Helix never sends)."""
    params = {"broadcaster_id": BROADCASTER_ID, "started_at": helix_time(SINCE), "ended_at": helix_time(UNTIL)}
    params["first"] = "100"
    if after:
        params["after"] = after
    mock.get(CLIPS_URL, match=[matchers.query_param_matcher(params)], **answer)


def new_import(user) -> ClipImport:
    return clip_import_start(user=user, since=SINCE, until=UNTIL, enqueue=False)


def run(clip_import: ClipImport, client: TwitchClient) -> ClipImport:
    result = clip_import_run(clip_import_id=str(clip_import.pk), client=client)
    result.refresh_from_db()
    return result


def afters_requested(mock) -> list[str | None]:
    return [call.request.params.get("after") for call in mock.calls if call.request.url.startswith(CLIPS_URL)]


def stored_ids(user) -> set[str]:
    return set(Clip.objects.filter(owner=user).values_list("twitch_clip_id", flat=True))


# --- Any failure ends the import, resumably ---------------------------------------------------------


@pytest.fixture
def garbled_page_2(twitch):
    """Page 1 answers; page 2 is JSON but not an object (a misbehaving proxy), once; then it would answer."""
    serve(twitch, json=helix_page([helix_clip("G-1"), helix_clip("G-2")], cursor="cursor-1"))
    serve(twitch, after="cursor-1", json=[])
    return twitch


@pytest.mark.django_db
def test_an_unexpected_error_fails_the_import_with_a_clear_reason(streamer, garbled_page_2, twitch_client, caplog):
    with caplog.at_level(logging.ERROR, logger="clips.services"):
        result = run(new_import(streamer), twitch_client)

    assert result.status == ClipImport.Status.FAILED
    assert result.error == "The import failed unexpectedly (AttributeError). Resume it to continue where it stopped."
    assert result.finished_at is not None
    [record] = [record for record in caplog.records if str(result.pk) in record.getMessage()]
    assert record.exc_info is not None  # logged with its traceback


@pytest.mark.django_db
def test_an_unexpected_error_keeps_the_progress_saved_before_it(streamer, garbled_page_2, twitch_client):
    result = run(new_import(streamer), twitch_client)

    assert (result.window_start, result.cursor, result.pages_fetched) == (SINCE, "cursor-1", 1)
    assert (result.clips_seen, result.clips_created) == (2, 2)


@pytest.mark.django_db
def test_a_database_error_fails_the_import_without_committing_half_a_page(streamer, twitch, twitch_client):
    """PostgreSQL refuses the NUL in this page's cursor after its clips were written: the page is undone whole."""
    serve(twitch, json=helix_page([helix_clip("N-1"), helix_clip("N-2")], cursor="cursor\x00-1"))

    result = run(new_import(streamer), twitch_client)

    assert result.status == ClipImport.Status.FAILED
    assert "unexpectedly (DataError)" in result.error
    assert (result.pages_fetched, result.clips_created, result.cursor) == (0, 0, "")
    assert stored_ids(streamer) == set()


@pytest.mark.django_db
def test_an_import_failed_unexpectedly_no_longer_blocks_the_next_one(streamer, garbled_page_2, twitch_client):
    failed = run(new_import(streamer), twitch_client)

    next_import = clip_import_start(user=streamer, enqueue=False)

    assert next_import.pk != failed.pk
    assert next_import.status == ClipImport.Status.QUEUED


@pytest.mark.django_db
def test_an_import_failed_unexpectedly_resumes_from_its_saved_cursor(streamer, garbled_page_2, twitch_client):
    clip_import = run(new_import(streamer), twitch_client)
    garbled_page_2.replace("GET", CLIPS_URL, json=helix_page([helix_clip("G-3")]))
    garbled_page_2.calls.reset()

    assert clip_import_resume(clip_import=clip_import, enqueue=False)
    result = run(clip_import, twitch_client)

    assert afters_requested(garbled_page_2) == ["cursor-1"]
    assert result.status == ClipImport.Status.SUCCEEDED
    assert result.error == ""
    assert stored_ids(streamer) == {"G-1", "G-2", "G-3"}
    assert (result.pages_fetched, result.clips_created) == (2, 3)


# --- Clips the database would refuse are cleaned or skipped -------------------------------------------

LONG_URL = "https://clips.twitch.tv/" + "x" * 500
TOO_BIG = 2**31


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        pytest.param({"url": LONG_URL}, {"url": ""}, id="url-too-long"),
        pytest.param({"embed_url": LONG_URL}, {"embed_url": ""}, id="embed-url-too-long"),
        pytest.param({"thumbnail_url": LONG_URL}, {"thumbnail_url": ""}, id="thumbnail-url-too-long"),
        pytest.param({"url": "https://clips.twitch.tv/a\x00b"}, {"url": ""}, id="url-with-nul"),
        pytest.param({"title": "Nice\x00 play"}, {"title": "Nice play"}, id="title-with-nul"),
        pytest.param({"title": "\x00" + "t" * 400}, {"title": "t" * 300}, id="title-too-long-with-nul"),
        pytest.param({"creator_name": "Fan\x00" + "n" * 200}, {"creator_name": "Fan" + "n" * 97}, id="creator-name"),
        pytest.param({"broadcaster_name": "Owner\x00"}, {"broadcaster_name": "Owner"}, id="broadcaster-name-nul"),
        pytest.param({"language": "en\x00" + "x" * 20}, {"language": "en" + "x" * 14}, id="language"),
        pytest.param({"creator_id": "9" * 40}, {"creator_id": ""}, id="creator-id-too-long"),
        pytest.param({"broadcaster_id": "1\x002"}, {"broadcaster_id": ""}, id="broadcaster-id-with-nul"),
        pytest.param({"video_id": "v" * 33}, {"video_id": ""}, id="video-id-too-long"),
        pytest.param({"game_id": "g" * 33}, {"game_id": ""}, id="game-id-too-long"),
        pytest.param({"view_count": TOO_BIG}, {"view_count": TOO_BIG - 1}, id="view-count-out-of-range"),
        pytest.param({"view_count": -5}, {"view_count": 0}, id="view-count-negative"),
        pytest.param({"view_count": "many"}, {"view_count": 0}, id="view-count-not-a-number"),
        pytest.param({"vod_offset": TOO_BIG}, {"vod_offset": None}, id="vod-offset-out-of-range"),
        pytest.param({"vod_offset": -TOO_BIG - 1}, {"vod_offset": None}, id="vod-offset-below-range"),
        pytest.param({"vod_offset": "soon"}, {"vod_offset": None}, id="vod-offset-not-a-number"),
        pytest.param({"vod_offset": 42}, {"vod_offset": 42}, id="vod-offset-fine"),
        pytest.param({"duration": "long"}, {"duration": 0.0}, id="duration-not-a-number"),
        pytest.param({"duration": "nan"}, {"duration": 0.0}, id="duration-nan"),
        pytest.param({"duration": [30]}, {"duration": 0.0}, id="duration-a-list"),
    ],
)
def test_a_clip_the_database_would_refuse_is_cleaned_and_its_page_stored(streamer, twitch, twitch_client, sent, stored):
    serve(twitch, json=helix_page([helix_clip("Good-1"), helix_clip("Odd-1", **sent), helix_clip("Good-2")]))

    result = run(new_import(streamer), twitch_client)

    assert result.status == ClipImport.Status.SUCCEEDED
    assert stored_ids(streamer) == {"Good-1", "Odd-1", "Good-2"}
    odd = Clip.objects.filter(owner=streamer, twitch_clip_id="Odd-1").values(*stored).get()
    assert odd == stored


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad_id",
    [pytest.param("x" * 129, id="too-long"), pytest.param("Bad\x00Id", id="with-nul"), pytest.param("", id="empty")],
)
def test_a_clip_whose_id_cannot_be_stored_is_skipped_and_logged(streamer, twitch, twitch_client, caplog, bad_id):
    bad = {**helix_clip("Bad-1"), "id": bad_id}
    serve(twitch, json=helix_page([helix_clip("Good-1"), bad, helix_clip("Good-2")]))

    with caplog.at_level(logging.WARNING, logger="clips.services"):
        result = run(new_import(streamer), twitch_client)

    assert result.status == ClipImport.Status.SUCCEEDED
    assert stored_ids(streamer) == {"Good-1", "Good-2"}
    assert (result.clips_seen, result.clips_created) == (2, 2)
    assert bad_id == "" or any("skipped" in record.getMessage().lower() for record in caplog.records)


@pytest.mark.django_db
def test_a_dropped_url_is_logged(streamer, twitch, twitch_client, caplog):
    serve(twitch, json=helix_page([helix_clip("Odd-1", thumbnail_url=LONG_URL)]))

    with caplog.at_level(logging.WARNING, logger="clips.services"):
        run(new_import(streamer), twitch_client)

    assert any("Odd-1" in record.getMessage() and "thumbnail_url" in record.getMessage() for record in caplog.records)


@pytest.mark.django_db
def test_a_page_with_an_unusable_created_at_or_a_non_object_clip_is_still_stored(streamer, twitch, twitch_client):
    serve(
        twitch,
        json=helix_page(
            [{**helix_clip("When-1"), "created_at": "2026-13-45T99:00:00Z"}, "not a clip", helix_clip("Ok-1")]
        ),
    )

    result = run(new_import(streamer), twitch_client)

    assert result.status == ClipImport.Status.SUCCEEDED
    assert stored_ids(streamer) == {"When-1", "Ok-1"}


@pytest.mark.django_db
def test_a_clip_created_at_without_a_timezone_is_read_as_utc(streamer, twitch, twitch_client):
    serve(twitch, json=helix_page([{**helix_clip("Naive-1"), "created_at": "2026-01-06T20:15:00"}]))

    run(new_import(streamer), twitch_client)

    assert Clip.objects.get(twitch_clip_id="Naive-1").clip_created_at == datetime(2026, 1, 6, 20, 15, tzinfo=UTC)


# --- Recovering imports whose worker died -------------------------------------------------------------


def stalled(user, *, status=ClipImport.Status.RUNNING, minutes: float = 31, progress: bool = True, **fields):
    """An import whose last progress (or creation, if it never made any) was that many minutes ago."""
    clip_import = new_import(user)
    moment = timezone.now() - timedelta(minutes=minutes)
    changes = {"progress_at": moment} if progress else {"progress_at": None, "created_at": moment}
    ClipImport.objects.filter(pk=clip_import.pk).update(status=status, **changes, **fields)
    clip_import.refresh_from_db()
    return clip_import


def import_jobs():
    return ProcrastinateJob.objects.filter(task_name="clips.tasks.run_clip_import")


@pytest.mark.django_db
def test_an_import_stuck_running_without_progress_is_failed_so_it_can_be_resumed(streamer):
    stuck = stalled(streamer)

    recovered = clip_imports_recover_stalled()

    assert recovered == [str(stuck.pk)]
    stuck.refresh_from_db()
    assert (stuck.status, stuck.error) == (ClipImport.Status.FAILED, WORKER_STOPPED)
    assert stuck.finished_at is not None
    assert clip_import_resume(clip_import=stuck)
    assert import_jobs().get().args == {"clip_import_id": str(stuck.pk)}


@pytest.mark.django_db
def test_a_recovered_import_resumes_from_its_saved_progress(streamer, twitch, twitch_client):
    stuck = stalled(streamer, window_start=SINCE, window_end=UNTIL, cursor="cursor-7", pages_fetched=7)
    serve(twitch, after="cursor-7", json=helix_page([helix_clip("Late-1")]))
    clip_imports_recover_stalled()

    assert clip_import_resume(clip_import=stuck, enqueue=False)
    result = run(stuck, twitch_client)

    assert afters_requested(twitch) == ["cursor-7"]
    assert (result.status, result.pages_fetched) == (ClipImport.Status.SUCCEEDED, 8)


@pytest.mark.django_db
def test_a_stuck_import_no_longer_blocks_a_new_one_once_recovered(api_client, bearer, streamer):
    stalled(streamer)
    assert api_client.post("/api/clips/import/", {}, **bearer(streamer)).status_code == 409

    clip_imports_recover_stalled()

    assert api_client.post("/api/clips/import/", {}, **bearer(streamer)).status_code == 202


@pytest.mark.django_db
def test_an_import_that_never_saved_progress_is_judged_by_its_creation(streamer):
    stuck = stalled(streamer, status=ClipImport.Status.QUEUED, progress=False)

    assert clip_imports_recover_stalled() == [str(stuck.pk)]


@pytest.mark.django_db
@pytest.mark.parametrize("progress", [True, False])
def test_an_import_with_recent_progress_is_left_alone(streamer, progress):
    recent = stalled(streamer, minutes=5, progress=progress)

    assert clip_imports_recover_stalled() == []
    recent.refresh_from_db()
    assert recent.status == ClipImport.Status.RUNNING


@pytest.mark.django_db
def test_the_threshold_comes_from_the_setting_or_the_caller(streamer, settings):
    stuck = stalled(streamer, minutes=20)
    settings.CLIP_IMPORT_STALLED_MINUTES = 30
    assert clip_imports_recover_stalled(dry_run=True) == []
    assert clip_imports_recover_stalled(older_than=timedelta(minutes=10), dry_run=True) == [str(stuck.pk)]
    settings.CLIP_IMPORT_STALLED_MINUTES = 15
    assert clip_imports_recover_stalled(dry_run=True) == [str(stuck.pk)]


@pytest.mark.django_db
def test_a_dry_run_lists_the_stalled_imports_and_changes_nothing(streamer):
    stuck = stalled(streamer)

    assert clip_imports_recover_stalled(dry_run=True) == [str(stuck.pk)]

    stuck.refresh_from_db()
    assert (stuck.status, stuck.error) == (ClipImport.Status.RUNNING, "")


@pytest.mark.django_db
@pytest.mark.parametrize("status", [ClipImport.Status.SUCCEEDED, ClipImport.Status.FAILED])
def test_finished_imports_are_never_touched(streamer, status):
    done = stalled(streamer, status=status, error="Earlier reason.")

    assert clip_imports_recover_stalled() == []
    done.refresh_from_db()
    assert (done.status, done.error) == (status, "Earlier reason.")


@pytest.mark.django_db
@pytest.mark.parametrize("status", [ClipImport.Status.QUEUED, ClipImport.Status.RUNNING])
def test_an_import_whose_job_waits_in_the_queue_is_left_alone(streamer, status):
    """A backlog, or a job procrastinate retried after its worker died: the job will run it."""
    waiting = stalled(streamer, status=status)
    defer("clips.tasks.run_clip_import", clip_import_id=str(waiting.pk))

    assert clip_imports_recover_stalled() == []
    waiting.refresh_from_db()
    assert waiting.status == status


@pytest.mark.django_db
def test_another_users_job_does_not_protect_a_stalled_import(streamer, stranger):
    stuck = stalled(streamer)
    defer("clips.tasks.run_clip_import", clip_import_id="00000000-0000-0000-0000-000000000000")

    assert clip_imports_recover_stalled() == [str(stuck.pk)]


@pytest.mark.django_db(transaction=True)
def test_an_import_still_running_elsewhere_is_left_alone_however_long_its_page(streamer, empty_queue):
    slow = stalled(streamer, minutes=600)

    with lock_held_elsewhere(f"clip-import:{slow.pk}"):
        assert clip_imports_recover_stalled() == []

    slow.refresh_from_db()
    assert slow.status == ClipImport.Status.RUNNING


@pytest.mark.django_db
def test_a_run_records_when_it_last_made_progress(streamer, twitch, twitch_client):
    serve(twitch, json=helix_page([helix_clip()], cursor="cursor-1"))
    serve(twitch, after="cursor-1", json=helix_page([helix_clip()]))
    clip_import = new_import(streamer)
    before = timezone.now()
    progress = []

    clip_import_run(
        clip_import_id=str(clip_import.pk), client=twitch_client, on_progress=lambda i: progress.append(i.progress_at)
    )

    assert len(progress) == 2
    assert before <= progress[0] <= progress[1] <= timezone.now()
    clip_import.refresh_from_db()
    assert clip_import.progress_at == progress[1]


@pytest.mark.django_db
def test_claiming_an_import_counts_as_progress(streamer, twitch, twitch_client):
    """A resumed import of long ago is not judged stalled the moment its run starts."""
    stuck = stalled(streamer, minutes=600)
    clip_imports_recover_stalled()
    clip_import_resume(clip_import=stuck, enqueue=False)
    serve(twitch, status=500, json={})  # the run claims it, then Twitch fails every retry
    before = timezone.now()

    result = run(stuck, twitch_client)

    assert result.status == ClipImport.Status.FAILED
    assert result.progress_at >= before


# --- The periodic task ----------------------------------------------------------------------------------


def test_recovery_is_a_periodic_task_on_the_imports_queue_every_10_minutes():
    periodic = {periodic_id: task for (_, periodic_id), task in queue_app.periodic_registry.periodic_tasks.items()}

    task = periodic["recover_stalled_clip_imports"]
    assert task.cron == "*/10 * * * *"
    assert task.task.name == "clips.tasks.recover_stalled_clip_imports"
    assert task.task.queue == "imports"
    assert task.task.queueing_lock == "recover_stalled_clip_imports"


@pytest.mark.django_db(transaction=True)
def test_the_periodic_task_recovers_stalled_imports_on_the_worker(streamer, run_queued_jobs):
    stuck = stalled(streamer)
    with transaction.atomic():
        defer("clips.tasks.recover_stalled_clip_imports", timestamp=int(timezone.now().timestamp()))

    run_queued_jobs(queues=["imports"])

    stuck.refresh_from_db()
    assert (stuck.status, stuck.error) == (ClipImport.Status.FAILED, WORKER_STOPPED)
    jobs = ProcrastinateJob.objects.filter(task_name="clips.tasks.recover_stalled_clip_imports")
    assert set(jobs.values_list("status", flat=True)) == {"succeeded"}  # the worker's scheduler may add its own


# --- The admin ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_resumes_a_recovered_import(staff_client, streamer):
    stuck = stalled(streamer)
    clip_imports_recover_stalled()

    messages = run_action(staff_client, "/admin/clips/clipimport/", "resume", [stuck])

    assert messages == ["Resumed 1 of 1."]
    stuck.refresh_from_db()
    assert (stuck.status, stuck.error) == (ClipImport.Status.QUEUED, "")
    assert import_jobs().get().args == {"clip_import_id": str(stuck.pk)}
