"""`manage.py backfill_clips`: choosing users and windows, dry runs, progress, failures, resuming and overlaps.

The command builds its own TwitchClient (which really sleeps between retries), so failures here are
non-retryable Helix answers (400) rather than 5xx, to keep the tests free of real waits.
"""

import io
import json
from datetime import UTC, datetime, timedelta
from functools import partial
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.tests.factories import link_twitch, make_user
from clips.models import Clip, ClipImport
from clips.services import clip_import_start
from core.tests.concurrency import lock_held_elsewhere
from integrations.tests.fakes import CLIPS_URL, clip_requests, helix_clip, helix_page, helix_time, serve_clips

STRANGER_BROADCASTER_ID = "654321"
SINCE = datetime(2026, 1, 5, tzinfo=UTC)
UNTIL = datetime(2026, 1, 12, tzinfo=UTC)  # one import window of 7 days
WINDOW_ARGS = ("--since", "2026-01-05", "--until", "2026-01-12")


@pytest.fixture(autouse=True)
def import_settings(twitch_settings):
    twitch_settings.CLIP_IMPORT_WINDOW_DAYS = 7
    return twitch_settings


@pytest.fixture
def output() -> SimpleNamespace:
    return SimpleNamespace(out=io.StringIO(), err=io.StringIO())


@pytest.fixture
def other_streamer(stranger):
    link_twitch(stranger, twitch_user_id=STRANGER_BROADCASTER_ID, login="strangerplays")
    return stranger


def backfill(output: SimpleNamespace, *args: str) -> str:
    call_command("backfill_clips", *args, stdout=output.out, stderr=output.err)
    return output.out.getvalue()


serve = partial(serve_clips, start=SINCE, end=UNTIL)  # the window of WINDOW_ARGS


def rejected(mock, **window) -> None:
    """A Helix answer that fails the import at once (no retries)."""
    serve(mock, {"status": 400, "message": "Invalid cursor"}, status=400, **window)


# --- Choosing users -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "reference",
    [
        pytest.param(lambda user: user.clerk_id, id="clerk-id"),
        pytest.param(lambda user: user.email, id="email"),
        pytest.param(lambda user: user.email.upper(), id="email-any-case"),
        pytest.param(lambda user: str(user.pk), id="uuid"),
    ],
)
def test_a_user_is_chosen_by_clerk_id_email_or_uuid(streamer, other_streamer, mocked_http, output, reference):
    printed = backfill(output, "--user", reference(streamer), *WINDOW_ARGS, "--dry-run")

    assert "1 user(s)" in printed
    assert "would import owner@example.com (Twitch ownerstreams)" in printed
    assert "stranger@example.com" not in printed


@pytest.mark.django_db
def test_several_users_can_be_chosen(streamer, other_streamer, mocked_http, output):
    printed = backfill(output, "--user", streamer.clerk_id, "--user", other_streamer.email, *WINDOW_ARGS, "--dry-run")

    assert "2 user(s)" in printed
    assert "would import owner@example.com" in printed
    assert "would import stranger@example.com" in printed


@pytest.mark.django_db
def test_a_user_is_chosen_by_twitch_login_in_any_case(streamer, other_streamer, mocked_http, output):
    printed = backfill(output, "--broadcaster", "OwnerStreams", *WINDOW_ARGS, "--dry-run")

    assert "would import owner@example.com (Twitch ownerstreams)" in printed
    assert "stranger@example.com" not in printed


@pytest.mark.django_db
def test_all_users_means_active_users_with_a_linked_twitch_account(streamer, other_streamer, mocked_http, output):
    other_streamer.is_active = False
    other_streamer.save()
    make_user("viewer")

    printed = backfill(output, "--all-users", *WINDOW_ARGS, "--dry-run")

    assert "1 user(s)" in printed
    assert "would import owner@example.com" in printed
    assert "stranger@example.com" not in printed
    assert "viewer@example.com" not in printed


@pytest.mark.django_db
def test_a_user_without_a_twitch_account_is_not_matched(owner, mocked_http, output):
    with pytest.raises(CommandError, match="No matching active user"):
        backfill(output, "--user", owner.email, *WINDOW_ARGS)

    assert not ClipImport.objects.exists()


@pytest.mark.django_db
def test_a_deactivated_user_is_not_matched(streamer, mocked_http, output):
    streamer.is_active = False
    streamer.save()

    with pytest.raises(CommandError, match="No matching active user"):
        backfill(output, "--user", streamer.clerk_id, *WINDOW_ARGS)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "selection", [pytest.param((), id="none"), pytest.param(("--user", "x", "--all-users"), id="two")]
)
def test_exactly_one_way_of_choosing_users_is_required(streamer, mocked_http, output, selection):
    with pytest.raises(CommandError):
        backfill(output, *selection, *WINDOW_ARGS)


# --- The window -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_since_and_until_accept_dates(streamer, mocked_http, output):
    printed = backfill(output, "--all-users", "--since", "2026-01-05", "--until", "2026-01-12", "--dry-run")

    assert "2026-01-05 00:00 to 2026-01-12 00:00 UTC" in printed


@pytest.mark.django_db
def test_since_and_until_accept_datetimes(streamer, twitch, output):
    since, until = datetime(2026, 1, 5, 10, 30, tzinfo=UTC), datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
    serve(twitch, helix_page([helix_clip()]), start=since, end=until)

    backfill(output, "--all-users", "--since", "2026-01-05T10:30:00Z", "--until", "2026-01-06T08:00:00")

    clip_import = ClipImport.objects.get()
    assert (clip_import.since, clip_import.until) == (since, until)
    assert clip_import.status == ClipImport.Status.SUCCEEDED


@pytest.mark.django_db
def test_a_datetime_with_an_offset_is_converted_to_utc(streamer, twitch, output):
    serve(twitch, helix_page([]), start=datetime(2026, 1, 5, 8, 30, tzinfo=UTC), end=UNTIL)

    backfill(output, "--all-users", "--since", "2026-01-05T10:30:00+02:00", "--until", "2026-01-12")

    assert clip_requests(twitch)[0]["started_at"] == "2026-01-05T08:30:00Z"
    assert ClipImport.objects.get().status == ClipImport.Status.SUCCEEDED


@pytest.mark.django_db
def test_the_window_is_announced_in_utc(streamer, mocked_http, output):
    printed = backfill(
        output, "--all-users", "--since", "2026-01-05T10:30:00+02:00", "--until", "2026-01-12", "--dry-run"
    )

    assert "2026-01-05 08:30 to 2026-01-12 00:00 UTC" in printed


@pytest.mark.django_db
def test_without_since_the_backfill_starts_when_twitch_clips_began(streamer, mocked_http, output):
    printed = backfill(output, "--all-users", "--until", "2026-01-12", "--dry-run")

    assert "2016-01-01 00:00 to 2026-01-12 00:00 UTC" in printed


@pytest.mark.django_db
@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param(("--since", "yesterday"), id="words"),
        pytest.param(("--since", "2026-13-01"), id="no-such-month"),
        pytest.param(("--until", "2026-01-05T25:00:00"), id="no-such-hour"),
        pytest.param(("--until", "05/01/2026"), id="not-iso"),
    ],
)
def test_an_invalid_date_is_refused(streamer, mocked_http, output, arguments):
    with pytest.raises(CommandError, match="not an ISO date"):
        backfill(output, "--all-users", *arguments)

    assert len(mocked_http.calls) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("until", ["2026-01-05", "2026-01-01"])
def test_since_must_come_before_until(streamer, mocked_http, output, until):
    with pytest.raises(CommandError, match="--since must be before --until"):
        backfill(output, "--all-users", "--since", "2026-01-05", "--until", until)

    assert not ClipImport.objects.exists()


# --- Running ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_dry_run_calls_nothing_and_writes_nothing(streamer, other_streamer, mocked_http, output):
    printed = backfill(output, "--all-users", *WINDOW_ARGS, "--dry-run")

    assert "Dry run: nothing imported." in printed
    assert len(mocked_http.calls) == 0
    assert not ClipImport.objects.exists()
    assert not Clip.objects.exists()


@pytest.mark.django_db
def test_it_imports_the_clips_and_shows_progress_with_counts(streamer, twitch, output):
    serve(twitch, helix_page([helix_clip(), helix_clip()], cursor="cursor-1"))
    serve(twitch, helix_page([helix_clip()]), after="cursor-1")

    printed = backfill(output, "--user", streamer.email, *WINDOW_ARGS)

    assert "ownerstreams" in printed
    assert "seen=3" in printed
    assert "new=3" in printed
    assert "updated=0" in printed
    assert "Backfill complete." in printed
    clip_import = ClipImport.objects.get(user=streamer)
    assert (clip_import.status, clip_import.clips_created) == (ClipImport.Status.SUCCEEDED, 3)
    assert Clip.objects.filter(owner=streamer).count() == 3


@pytest.mark.django_db
def test_it_walks_every_window_between_since_and_until(streamer, twitch, output):
    middle = SINCE + timedelta(days=7)
    until = SINCE + timedelta(days=10)
    serve(twitch, helix_page([helix_clip()]), start=SINCE, end=middle)
    serve(twitch, helix_page([helix_clip()]), start=middle, end=until)

    backfill(output, "--all-users", "--since", "2026-01-05", "--until", "2026-01-15")

    assert [(query["started_at"], query["ended_at"]) for query in clip_requests(twitch)] == [
        (helix_time(SINCE), helix_time(middle)),
        (helix_time(middle), helix_time(until)),
    ]
    assert Clip.objects.filter(owner=streamer).count() == 2


@pytest.mark.django_db
def test_each_user_gets_their_own_clips(streamer, other_streamer, twitch, output):
    serve(twitch, helix_page([helix_clip("Owner-1")]))
    serve(twitch, helix_page([helix_clip("Stranger-1")]), broadcaster_id=STRANGER_BROADCASTER_ID)

    backfill(output, "--all-users", *WINDOW_ARGS)

    assert list(Clip.objects.filter(owner=streamer).values_list("twitch_clip_id", flat=True)) == ["Owner-1"]
    assert list(Clip.objects.filter(owner=other_streamer).values_list("twitch_clip_id", flat=True)) == ["Stranger-1"]


@pytest.mark.django_db
def test_running_twice_never_duplicates_clips(streamer, twitch, output):
    serve(twitch, helix_page([helix_clip("Twice-1"), helix_clip("Twice-2")]))
    backfill(output, "--all-users", *WINDOW_ARGS)

    printed = backfill(output, "--all-users", *WINDOW_ARGS)

    assert "Backfill complete." in printed
    assert Clip.objects.filter(owner=streamer).count() == 2
    latest = ClipImport.objects.filter(user=streamer).first()
    assert (latest.status, latest.clips_created, latest.clips_updated) == (ClipImport.Status.SUCCEEDED, 0, 2)


# --- Failing and resuming -----------------------------------------------------------------------


@pytest.fixture
def failing_on_page_2(twitch):
    """Page 1 answers; page 2 is refused once, then answers."""
    serve(twitch, helix_page([helix_clip("R-1"), helix_clip("R-2")], cursor="cursor-1"))
    rejected(twitch, after="cursor-1")
    serve(twitch, helix_page([helix_clip("R-3"), helix_clip("R-2")]), after="cursor-1")
    return twitch


@pytest.mark.django_db
def test_a_failure_tells_to_run_the_command_again(streamer, failing_on_page_2, output):
    with pytest.raises(CommandError, match="run the command again to resume"):
        backfill(output, "--all-users", *WINDOW_ARGS)

    assert "owner@example.com: failed: Twitch rejected the request: Invalid cursor" in output.err.getvalue()
    failed = ClipImport.objects.get(user=streamer)
    assert failed.status == ClipImport.Status.FAILED
    assert failed.cursor == "cursor-1"


@pytest.mark.django_db
def test_running_again_resumes_the_failed_import(streamer, failing_on_page_2, output):
    with pytest.raises(CommandError):
        backfill(output, "--all-users", *WINDOW_ARGS)
    failed = ClipImport.objects.get(user=streamer)
    requests_before = len(clip_requests(failing_on_page_2))

    printed = backfill(output, "--all-users", *WINDOW_ARGS)

    assert "Backfill complete." in printed
    resumed = ClipImport.objects.get(user=streamer)
    assert resumed.pk == failed.pk
    assert resumed.status == ClipImport.Status.SUCCEEDED
    assert [query.get("after") for query in clip_requests(failing_on_page_2)[requests_before:]] == ["cursor-1"]
    assert Clip.objects.filter(owner=streamer).count() == 3


@pytest.mark.django_db
def test_running_again_without_until_resumes_the_failed_import(streamer, twitch, output):
    since = (timezone.now() - timedelta(days=3)).replace(microsecond=0)
    page_1 = [helix_clip("D-1"), helix_clip("D-2")]
    twitch.add_callback("GET", CLIPS_URL, callback=_pages_failing_once(page_1, [helix_clip("D-3")]))
    arguments = ("--all-users", "--since", since.strftime("%Y-%m-%dT%H:%M:%SZ"))
    with pytest.raises(CommandError):
        backfill(output, *arguments)
    requests_before = len(clip_requests(twitch))

    backfill(output, *arguments)

    # It continues from the saved cursor (then walks the few seconds up to the new "now").
    assert clip_requests(twitch)[requests_before].get("after") == "cursor-1"
    assert ClipImport.objects.filter(user=streamer).count() == 1


def _pages_failing_once(first_page: list[dict], second_page: list[dict]):
    """Helix /clips for any window: the first page, then the second page refused once and then served."""
    refusals = iter([True])

    def answer(request) -> tuple[int, dict, str]:
        after = dict(parse_qsl(urlsplit(request.url).query)).get("after")
        if after is None:
            return 200, {}, json.dumps(helix_page(first_page, "cursor-1"))
        if next(refusals, False):
            return 400, {}, json.dumps({"status": 400, "message": "Invalid cursor"})
        return 200, {}, json.dumps(helix_page(second_page))

    return answer


@pytest.mark.django_db
def test_one_users_failure_does_not_stop_the_others(streamer, other_streamer, twitch, output):
    rejected(twitch)
    serve(twitch, helix_page([helix_clip("Stranger-1")]), broadcaster_id=STRANGER_BROADCASTER_ID)

    with pytest.raises(CommandError, match="1 user"):
        backfill(output, "--all-users", *WINDOW_ARGS)

    assert ClipImport.objects.get(user=other_streamer).status == ClipImport.Status.SUCCEEDED
    assert Clip.objects.filter(owner=other_streamer).count() == 1


# --- Imports running elsewhere ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_import_running_elsewhere_is_skipped_not_duplicated(streamer, twitch, output):
    running = clip_import_start(user=streamer, since=SINCE, until=UNTIL, enqueue=False)
    ClipImport.objects.filter(pk=running.pk).update(status=ClipImport.Status.RUNNING)

    with lock_held_elsewhere(f"clip-import:{running.pk}"):
        printed = backfill(output, "--all-users", *WINDOW_ARGS)

    assert "running elsewhere; skipped" in printed
    assert len(twitch.calls) == 0
    assert list(ClipImport.objects.values_list("pk", "status")) == [(running.pk, ClipImport.Status.RUNNING)]
    assert not Clip.objects.exists()


@pytest.mark.django_db
def test_a_user_with_another_active_import_is_skipped(streamer, twitch, output):
    queued_by_the_app = clip_import_start(user=streamer)

    printed = backfill(output, "--all-users", *WINDOW_ARGS)

    assert "another import is active" in printed
    assert len(twitch.calls) == 0
    assert list(ClipImport.objects.values_list("pk", flat=True)) == [queued_by_the_app.pk]


@pytest.mark.django_db
def test_an_interrupted_import_of_the_same_window_is_continued(streamer, twitch, output):
    interrupted = clip_import_start(user=streamer, since=SINCE, until=UNTIL, enqueue=False)
    ClipImport.objects.filter(pk=interrupted.pk).update(
        status=ClipImport.Status.RUNNING, window_start=SINCE, window_end=UNTIL, cursor="cursor-1"
    )
    serve(twitch, helix_page([helix_clip("I-1")]), after="cursor-1")

    backfill(output, "--all-users", *WINDOW_ARGS)

    interrupted.refresh_from_db()
    assert interrupted.status == ClipImport.Status.SUCCEEDED
    assert [query.get("after") for query in clip_requests(twitch)] == ["cursor-1"]
    assert ClipImport.objects.count() == 1
