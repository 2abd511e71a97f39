"""Importing a streamer's Twitch clips: starting, walking windows and pages, upserting, failing and resuming."""

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from accounts.models import TwitchAccount
from accounts.tests.factories import link_twitch
from clips.models import Clip, ClipImport
from clips.services import (
    ClipError,
    ImportAlreadyRunning,
    clip_import_resume,
    clip_import_run,
    clip_import_start,
)
from clips.tests.factories import make_clip
from core.tests.concurrency import lock_held_elsewhere
from integrations.tests.fakes import (
    BROADCASTER_ID,
    CLIPS_URL,
    clip_requests,
    helix_clip,
    helix_page,
    helix_time,
    load_fixture,
    serve_clips,
)
from integrations.twitch import TwitchClient

RUN_TASK = "clips.tasks.run_clip_import"
SINCE = datetime(2026, 1, 5, tzinfo=UTC)
WEEK = timedelta(days=7)
UNTIL = SINCE + WEEK


@pytest.fixture(autouse=True)
def import_settings(twitch_settings):
    twitch_settings.CLIP_IMPORT_DEFAULT_DAYS = 30
    twitch_settings.CLIP_IMPORT_WINDOW_DAYS = 7
    return twitch_settings


serve = partial(serve_clips, start=SINCE, end=UNTIL)  # the window of `new_import()`


def windows_requested(mock) -> list[tuple[str, str]]:
    windows = []
    for query in clip_requests(mock):
        window = (query["started_at"], query["ended_at"])
        if not windows or windows[-1] != window:
            windows.append(window)
    return windows


def new_import(user, *, since: datetime = SINCE, until: datetime = UNTIL) -> ClipImport:
    return clip_import_start(user=user, since=since, until=until, enqueue=False)


def run(clip_import: ClipImport, client: TwitchClient, **kwargs) -> ClipImport:
    return clip_import_run(clip_import_id=str(clip_import.pk), client=client, **kwargs)


def import_jobs():
    return ProcrastinateJob.objects.filter(task_name=RUN_TASK)


class Rollback(Exception):
    pass


@transaction.atomic
def start_then_fail(user) -> None:
    clip_import_start(user=user)
    raise Rollback


# --- Starting an import ------------------------------------------------------------------------


@pytest.mark.django_db
def test_starting_an_import_requires_a_linked_twitch_account(owner):
    with pytest.raises(ClipError) as error:
        clip_import_start(user=owner)

    assert error.value.code == "twitch_not_linked"
    assert not ClipImport.objects.exists()
    assert not import_jobs().exists()


@pytest.mark.django_db
def test_an_import_covers_the_last_30_days_by_default(streamer):
    before = timezone.now()

    clip_import = clip_import_start(user=streamer)

    assert before <= clip_import.until <= timezone.now()
    assert clip_import.until - clip_import.since == timedelta(days=30)
    assert clip_import.status == ClipImport.Status.QUEUED


@pytest.mark.django_db
def test_an_import_never_reaches_into_the_future(streamer):
    clip_import = clip_import_start(user=streamer, since=SINCE, until=timezone.now() + timedelta(days=3))

    assert clip_import.since == SINCE
    assert clip_import.until <= timezone.now()


@pytest.mark.django_db
@pytest.mark.parametrize("until", [SINCE, SINCE - timedelta(days=1)])
def test_an_empty_or_reversed_window_is_refused(streamer, until):
    with pytest.raises(ClipError) as error:
        clip_import_start(user=streamer, since=SINCE, until=until)

    assert error.value.code == "invalid_window"
    assert not ClipImport.objects.exists()


@pytest.mark.django_db
def test_a_second_active_import_for_the_same_user_is_refused(streamer):
    first = clip_import_start(user=streamer, since=SINCE, until=UNTIL)

    with pytest.raises(ImportAlreadyRunning) as error:
        clip_import_start(user=streamer)

    assert error.value.code == "import_in_progress"
    assert error.value.running == first
    assert ClipImport.objects.count() == 1
    assert import_jobs().count() == 1


@pytest.mark.django_db
def test_a_finished_import_does_not_block_the_next_one(streamer):
    first = clip_import_start(user=streamer, since=SINCE, until=UNTIL)
    ClipImport.objects.filter(pk=first.pk).update(status=ClipImport.Status.SUCCEEDED)

    second = clip_import_start(user=streamer, since=SINCE, until=UNTIL)

    assert second.pk != first.pk
    assert import_jobs().count() == 2


@pytest.mark.django_db
def test_another_users_active_import_does_not_block_mine(streamer, stranger):
    link_twitch(stranger, twitch_user_id="654321", login="strangerplays")
    clip_import_start(user=stranger)

    clip_import_start(user=streamer)

    assert ClipImport.objects.count() == 2


@pytest.mark.django_db
def test_starting_an_import_defers_exactly_one_job(streamer):
    clip_import = clip_import_start(user=streamer)

    job = import_jobs().get()
    assert job.args == {"clip_import_id": str(clip_import.pk)}
    assert job.queue_name == "imports"
    assert job.status == "todo"


@pytest.mark.django_db
def test_an_import_started_in_a_rolled_back_transaction_enqueues_nothing(streamer):
    with pytest.raises(Rollback):
        start_then_fail(streamer)

    assert not ClipImport.objects.exists()
    assert not import_jobs().exists()


@pytest.mark.django_db
def test_an_import_the_caller_runs_itself_defers_no_job(streamer):
    new_import(streamer)

    assert not import_jobs().exists()


# --- Walking windows and pages ------------------------------------------------------------------


@pytest.mark.django_db
def test_it_pages_through_a_window_with_the_after_cursor(streamer, twitch, twitch_client):
    serve(twitch, helix_page([helix_clip("A-1"), helix_clip("A-2")], cursor="cursor-1"))
    serve(twitch, helix_page([helix_clip("A-3")], cursor="cursor-2"), after="cursor-1")
    serve(twitch, helix_page([helix_clip("A-4")]), after="cursor-2")
    clip_import = new_import(streamer)

    result = run(clip_import, twitch_client)

    assert [query.get("after") for query in clip_requests(twitch)] == [None, "cursor-1", "cursor-2"]
    assert {query["first"] for query in clip_requests(twitch)} == {"100"}
    assert {query["broadcaster_id"] for query in clip_requests(twitch)} == {BROADCASTER_ID}
    assert result.status == ClipImport.Status.SUCCEEDED
    assert result.pages_fetched == 3
    assert set(Clip.objects.filter(owner=streamer).values_list("twitch_clip_id", flat=True)) == {
        "A-1",
        "A-2",
        "A-3",
        "A-4",
    }


@pytest.mark.django_db
def test_it_stores_what_helix_says_about_each_clip(streamer, twitch, twitch_client):
    page = load_fixture("twitch/clips.json")
    serve(twitch, page)

    run(new_import(streamer), twitch_client)

    for helix in page["data"]:
        clip = Clip.objects.get(owner=streamer, twitch_clip_id=helix["id"])
        assert clip.source == Clip.Source.TWITCH
        assert (clip.url, clip.embed_url, clip.thumbnail_url) == (
            helix["url"],
            helix["embed_url"],
            helix["thumbnail_url"],
        )
        assert (clip.broadcaster_id, clip.broadcaster_name) == (BROADCASTER_ID, "OwnerStreams")
        assert (clip.creator_id, clip.creator_name) == (helix["creator_id"], helix["creator_name"])
        assert (clip.video_id, clip.vod_offset) == (helix["video_id"], helix["vod_offset"])
        assert (clip.game_id, clip.language, clip.title) == (helix["game_id"], "en", helix["title"])
        assert clip.view_count == helix["view_count"]
        assert clip.clip_created_at == datetime.fromisoformat(helix["created_at"])
        assert clip.duration == pytest.approx(helix["duration"])
        assert clip.is_featured is helix["is_featured"]


@pytest.mark.django_db
def test_it_walks_the_whole_range_one_window_at_a_time(streamer, twitch, twitch_client):
    until = SINCE + timedelta(days=20)
    serve(twitch, helix_page([helix_clip("W-1")]), start=SINCE, end=SINCE + WEEK)
    serve(twitch, helix_page([helix_clip("W-2")]), start=SINCE + WEEK, end=SINCE + 2 * WEEK)
    serve(twitch, helix_page([helix_clip("W-3")]), start=SINCE + 2 * WEEK, end=until)

    result = run(new_import(streamer, until=until), twitch_client)

    assert windows_requested(twitch) == [
        (helix_time(SINCE), helix_time(SINCE + WEEK)),
        (helix_time(SINCE + WEEK), helix_time(SINCE + 2 * WEEK)),
        (helix_time(SINCE + 2 * WEEK), helix_time(until)),
    ]
    assert result.status == ClipImport.Status.SUCCEEDED
    assert result.window_start == until
    assert Clip.objects.filter(owner=streamer).count() == 3


@pytest.mark.django_db
def test_an_empty_window_moves_on_to_the_next(streamer, twitch, twitch_client):
    until = SINCE + 2 * WEEK
    serve(twitch, helix_page([]), start=SINCE, end=SINCE + WEEK)
    serve(twitch, helix_page([helix_clip("Late-1")]), start=SINCE + WEEK, end=until)

    result = run(new_import(streamer, until=until), twitch_client)

    assert result.status == ClipImport.Status.SUCCEEDED
    assert result.clips_created == 1


class BusyChannel:
    """A fake Helix /clips for a channel with many clips: filters by window, sorts by views, pages by
    offset cursors and, like Helix, never returns more than 1,000 results for one query."""

    def __init__(self, clips: list[dict]):
        self.clips = clips

    def __call__(self, request) -> tuple[int, dict, str]:
        query = dict(parse_qsl(urlsplit(request.url).query))
        start, end = datetime.fromisoformat(query["started_at"]), datetime.fromisoformat(query["ended_at"])
        matching = sorted(
            (clip for clip in self.clips if start <= datetime.fromisoformat(clip["created_at"]) <= end),
            key=lambda clip: -clip["view_count"],
        )
        offset = int(query.get("after", "cursor-0").removeprefix("cursor-"))
        size = int(query["first"])
        page = matching[offset : offset + size] if offset < 1000 else []
        cursor = f"cursor-{offset + size}" if offset + size < len(matching) else None
        return 200, {}, json.dumps(helix_page(page, cursor))


@pytest.fixture
def busy_week(twitch):
    """1,200 clips spread over the import's week: more than one Helix query can return."""
    count = 1200
    clips = [
        helix_clip(f"Busy{number}", created_at=SINCE + WEEK * (number + 0.5) / count, views=(number * 7919) % count)
        for number in range(count)
    ]
    twitch.add_callback("GET", CLIPS_URL, callback=BusyChannel(clips))
    return clips


@pytest.mark.django_db
def test_it_splits_a_window_that_hits_the_result_cap(streamer, twitch, twitch_client, busy_week):
    result = run(new_import(streamer), twitch_client)

    half = SINCE + WEEK / 2
    assert windows_requested(twitch) == [
        (helix_time(SINCE), helix_time(UNTIL)),
        (helix_time(SINCE), helix_time(half)),
        (helix_time(half), helix_time(UNTIL)),
    ]
    afters = [query.get("after") for query in clip_requests(twitch)]
    assert afters[:10] == [None, *(f"cursor-{offset}" for offset in range(100, 1000, 100))]
    assert afters[10] is None  # the first half is walked from its start
    assert result.status == ClipImport.Status.SUCCEEDED
    assert result.pages_fetched == 22  # 10 capped pages, then 6 for each half
    stored = set(Clip.objects.filter(owner=streamer).values_list("twitch_clip_id", flat=True))
    assert stored == {clip["id"] for clip in busy_week}


@pytest.mark.django_db
def test_a_split_window_does_not_count_its_clips_twice(streamer, twitch, twitch_client, busy_week):
    result = run(new_import(streamer), twitch_client)

    assert (result.clips_seen, result.clips_created, result.clips_updated) == (1200, 1200, 0)


# --- Upserting ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_clip_repeated_within_a_page_is_stored_once(streamer, twitch, twitch_client):
    twice = helix_clip("Twice-1")
    serve(twitch, helix_page([twice, helix_clip("Once-1"), dict(twice)]))

    result = run(new_import(streamer), twitch_client)

    assert result.status == ClipImport.Status.SUCCEEDED
    assert Clip.objects.filter(owner=streamer, twitch_clip_id="Twice-1").count() == 1
    assert Clip.objects.filter(owner=streamer).count() == 2
    assert result.clips_created == 2


@pytest.mark.django_db
def test_a_clip_repeated_on_a_later_page_is_stored_once(streamer, twitch, twitch_client):
    serve(twitch, helix_page([helix_clip("P-1"), helix_clip("P-2")], cursor="cursor-1"))
    serve(twitch, helix_page([helix_clip("P-2"), helix_clip("P-3")]), after="cursor-1")

    result = run(new_import(streamer), twitch_client)

    assert Clip.objects.filter(owner=streamer).count() == 3
    assert Clip.objects.filter(owner=streamer, twitch_clip_id="P-2").count() == 1
    assert result.clips_created == 3


@pytest.mark.django_db
def test_reimporting_updates_views_and_titles_without_duplicating(streamer, twitch, twitch_client):
    serve(twitch, helix_page([helix_clip("Again-1", views=10, title="Old title"), helix_clip("Again-2")]))
    run(new_import(streamer), twitch_client)
    twitch.reset()
    serve(twitch, helix_page([helix_clip("Again-1", views=99, title="New title"), helix_clip("Again-2")]))

    second = run(new_import(streamer), twitch_client)

    assert Clip.objects.filter(owner=streamer).count() == 2
    clip = Clip.objects.get(owner=streamer, twitch_clip_id="Again-1")
    assert (clip.view_count, clip.title) == (99, "New title")
    assert (second.clips_created, second.clips_updated) == (0, 2)


@pytest.mark.django_db
def test_reimporting_keeps_what_we_added_to_a_clip(streamer, twitch, twitch_client):
    known = make_clip(streamer, twitch_clip_id="Kept-1", media_status=Clip.MediaStatus.READY, has_portrait=True)
    serve(twitch, helix_page([helix_clip("Kept-1", views=500)]))

    run(new_import(streamer), twitch_client)

    known.refresh_from_db()
    assert known.view_count == 500
    assert known.media_status == Clip.MediaStatus.READY
    assert known.has_portrait is True


@pytest.mark.django_db
def test_it_counts_clips_seen_created_and_updated(streamer, twitch, twitch_client):
    make_clip(streamer, twitch_clip_id="Known-1")
    serve(twitch, helix_page([helix_clip("Known-1"), helix_clip("New-1")], cursor="cursor-1"))
    serve(twitch, helix_page([helix_clip("New-2")]), after="cursor-1")

    result = run(new_import(streamer), twitch_client)

    result.refresh_from_db()
    assert (result.clips_seen, result.clips_created, result.clips_updated) == (3, 2, 1)
    assert result.pages_fetched == 2


@pytest.mark.django_db
def test_each_page_is_stored_with_a_single_insert(streamer, twitch, twitch_client):
    serve(twitch, helix_page([helix_clip() for _ in range(5)], cursor="cursor-1"))
    serve(twitch, helix_page([helix_clip() for _ in range(5)], cursor="cursor-2"), after="cursor-1")
    serve(twitch, helix_page([helix_clip() for _ in range(5)]), after="cursor-2")
    clip_import = new_import(streamer)

    with CaptureQueriesContext(connection) as queries:
        run(clip_import, twitch_client)

    statements = [query["sql"] for query in queries.captured_queries]
    assert sum(sql.startswith('INSERT INTO "clips_clip"') for sql in statements) == 3
    assert not any(sql.startswith('UPDATE "clips_clip"') for sql in statements)
    assert Clip.objects.filter(owner=streamer).count() == 15


@pytest.mark.django_db
def test_progress_is_reported_after_every_page(streamer, twitch, twitch_client):
    serve(twitch, helix_page([helix_clip(), helix_clip()], cursor="cursor-1"))
    serve(twitch, helix_page([helix_clip()]), after="cursor-1")
    reports = []

    run(new_import(streamer), twitch_client, on_progress=lambda progress: reports.append(progress.clips_seen))

    assert reports == [2, 3]


# --- Failing and resuming -------------------------------------------------------------------------


@pytest.fixture
def failing_on_page_3(twitch):
    """Pages 1 and 2 answer; page 3 fails four times in a row (every retry), then would answer."""
    serve(twitch, helix_page([helix_clip("F-1"), helix_clip("F-2")], cursor="cursor-1"))
    serve(twitch, helix_page([helix_clip("F-3"), helix_clip("F-2")], cursor="cursor-2"), after="cursor-1")
    for _ in range(4):
        serve(twitch, {"error": "Internal Server Error"}, after="cursor-2", status=500)
    serve(twitch, helix_page([helix_clip("F-4")]), after="cursor-2")
    return twitch


@pytest.mark.django_db
def test_a_failure_mid_import_saves_progress_and_a_clear_error(streamer, failing_on_page_3, twitch_client, sleeps):
    result = run(new_import(streamer), twitch_client)

    result.refresh_from_db()
    assert result.status == ClipImport.Status.FAILED
    assert "Twitch is unavailable (HTTP 500)" in result.error
    assert result.finished_at is not None
    assert result.window_start == SINCE
    assert result.window_end == UNTIL
    assert result.cursor == "cursor-2"
    assert result.pages_fetched == 2
    assert set(Clip.objects.filter(owner=streamer).values_list("twitch_clip_id", flat=True)) == {"F-1", "F-2", "F-3"}
    assert len(sleeps) == 3  # retried with backoff, without really sleeping


@pytest.mark.django_db
def test_a_resumed_import_continues_from_the_saved_cursor(streamer, failing_on_page_3, twitch_client):
    clip_import = run(new_import(streamer), twitch_client)
    requests_before = len(clip_requests(failing_on_page_3))

    assert clip_import_resume(clip_import=clip_import, enqueue=False)
    result = run(clip_import, twitch_client)

    resumed = clip_requests(failing_on_page_3)[requests_before:]
    assert [query.get("after") for query in resumed] == ["cursor-2"]
    assert resumed[0]["started_at"] == helix_time(SINCE)
    assert result.status == ClipImport.Status.SUCCEEDED
    assert result.error == ""
    assert Clip.objects.filter(owner=streamer).count() == 4
    assert result.clips_created == 4
    assert ClipImport.objects.count() == 1


@pytest.mark.django_db
def test_resuming_a_failed_import_defers_its_job_again(streamer, failing_on_page_3, twitch_client):
    clip_import = run(new_import(streamer), twitch_client)

    assert clip_import_resume(clip_import=clip_import)

    clip_import.refresh_from_db()
    assert clip_import.status == ClipImport.Status.QUEUED
    assert import_jobs().get().args == {"clip_import_id": str(clip_import.pk)}


@pytest.mark.django_db
def test_only_a_failed_import_can_be_resumed(streamer, twitch, twitch_client):
    serve(twitch, helix_page([helix_clip()]))
    clip_import = run(new_import(streamer), twitch_client)

    assert not clip_import_resume(clip_import=clip_import)
    clip_import.refresh_from_db()
    assert clip_import.status == ClipImport.Status.SUCCEEDED
    assert not import_jobs().exists()


@pytest.mark.django_db
def test_a_failed_import_is_not_resumed_while_another_is_active(streamer, failing_on_page_3, twitch_client):
    failed = run(new_import(streamer), twitch_client)
    clip_import_start(user=streamer)

    assert not clip_import_resume(clip_import=failed)
    failed.refresh_from_db()
    assert failed.status == ClipImport.Status.FAILED


@pytest.mark.django_db
def test_a_finished_import_is_not_run_again(streamer, twitch, twitch_client):
    serve(twitch, helix_page([helix_clip()]))
    clip_import = run(new_import(streamer), twitch_client)
    calls = len(twitch.calls)

    again = run(clip_import, twitch_client)

    assert again.status == ClipImport.Status.SUCCEEDED
    assert len(twitch.calls) == calls


@pytest.mark.django_db
def test_an_import_fails_clearly_when_the_twitch_account_was_unlinked(streamer, twitch, twitch_client):
    clip_import = new_import(streamer)
    TwitchAccount.objects.filter(user=streamer).delete()

    result = run(clip_import, twitch_client)

    assert result.status == ClipImport.Status.FAILED
    assert "unlinked" in result.error
    assert len(twitch.calls) == 0


# --- Concurrency and the queue ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_same_import_never_runs_twice_at_once(streamer, twitch, twitch_client):
    clip_import = new_import(streamer)

    with lock_held_elsewhere(f"clip-import:{clip_import.pk}"):
        result = run(clip_import, twitch_client)

    assert len(twitch.calls) == 0
    assert result.status == ClipImport.Status.QUEUED
    assert result.started_at is None


@pytest.mark.django_db(transaction=True)
def test_a_queued_import_runs_to_completion_on_the_worker(streamer, twitch, run_queued_jobs):
    serve(twitch, helix_page([helix_clip("Q-1"), helix_clip("Q-2")], cursor="cursor-1"))
    serve(twitch, helix_page([helix_clip("Q-3")]), after="cursor-1")
    with transaction.atomic():
        clip_import = clip_import_start(user=streamer, since=SINCE, until=UNTIL)

    run_queued_jobs(queues=["imports"])

    clip_import.refresh_from_db()
    assert clip_import.status == ClipImport.Status.SUCCEEDED
    assert clip_import.clips_created == 3
    assert Clip.objects.filter(owner=streamer).count() == 3
    assert import_jobs().get().status == "succeeded"


# --- Owner isolation ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_clips_imported_for_one_user_never_appear_for_another(streamer, stranger, twitch, twitch_client):
    serve(twitch, helix_page([helix_clip("Mine-1"), helix_clip("Mine-2")]))

    run(new_import(streamer), twitch_client)

    assert Clip.objects.filter(owner=streamer).count() == 2
    assert not Clip.objects.filter(owner=stranger).exists()


@pytest.mark.django_db
def test_a_clip_another_user_also_has_is_imported_without_touching_theirs(streamer, stranger, twitch, twitch_client):
    theirs = make_clip(stranger, twitch_clip_id="Shared-1", title="Stranger's copy", view_count=3)
    serve(twitch, helix_page([helix_clip("Shared-1", title="Owner's copy", views=50)]))

    result = run(new_import(streamer), twitch_client)

    assert result.clips_created == 1
    mine = Clip.objects.get(owner=streamer, twitch_clip_id="Shared-1")
    assert mine.pk != theirs.pk
    theirs.refresh_from_db()
    assert (theirs.title, theirs.view_count) == ("Stranger's copy", 3)
    assert Clip.objects.filter(owner=stranger).count() == 1
