"""Two import requests at once: exactly one import starts, every other request is told one is running (409)."""

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.test import Client

from clips.models import ClipImport
from clips.services import clip_import_start
from core.tests.concurrency import run_concurrently
from core.tests.helpers import error_code

pytestmark = pytest.mark.django_db(transaction=True)

IMPORT_URL = "/api/clips/import/"


@pytest.fixture(autouse=True)
def _empty_queue(empty_queue):
    """The winning request queues a job, committed: the queue must be emptied after each test."""


def post_import(headers: dict):
    # A 500 must come back as a response, not as the view's exception.
    return Client(raise_request_exception=False).post(IMPORT_URL, {}, content_type="application/json", **headers)


def wait_until_a_session_waits_for(wait_event: str) -> None:
    """Block until another PostgreSQL session is waiting on a lock of that kind ('transactionid', 'relation')."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = %s",
                [wait_event],
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.01)
    raise AssertionError(f"no session started waiting for a {wait_event} lock")


def in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list]:
    """Run `call` on its own thread (so its own database connection); its result or exception lands in the list."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # reported by the test
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_concurrent_import_requests_start_one_import_and_answer_409_to_the_others(bearer, streamer):
    headers = bearer(streamer)

    responses = run_concurrently(lambda: post_import(headers), times=5)

    assert sorted(response.status_code for response in responses) == [202, 409, 409, 409, 409]
    assert {error_code(response) for response in responses if response.status_code == 409} == {"import_in_progress"}
    assert ClipImport.objects.filter(user=streamer).count() == 1


def test_a_request_that_loses_the_race_to_an_import_that_ends_at_once_still_answers_409(bearer, streamer):
    """The winner's insert makes the loser's fail, but by the time the loser looks the winner has already
    finished (an empty window takes milliseconds): the loser must not answer 500 for want of a row to show."""
    headers = bearer(streamer)
    winner_inserted, winner_may_commit = threading.Event(), threading.Event()

    def winner() -> ClipImport:
        with transaction.atomic():
            clip_import = clip_import_start(user=streamer, enqueue=False)
            winner_inserted.set()
            winner_may_commit.wait(timeout=10)
        return clip_import

    def finish_the_winners_import() -> int:
        # Queued behind both inserts; the loser's lookup then waits for this to commit.
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {ClipImport._meta.db_table} IN ACCESS EXCLUSIVE MODE")
            return ClipImport.objects.filter(user=streamer).update(status=ClipImport.Status.SUCCEEDED)

    winning, _ = in_thread(winner)
    assert winner_inserted.wait(timeout=10)
    losing, loser_outcome = in_thread(lambda: post_import(headers))
    wait_until_a_session_waits_for("transactionid")  # the loser's insert waits for the winner's commit
    finishing, _ = in_thread(finish_the_winners_import)
    wait_until_a_session_waits_for("relation")
    winner_may_commit.set()
    for thread in (winning, losing, finishing):
        thread.join(timeout=10)

    [response] = loser_outcome
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "import_in_progress"
    assert not error.get("details")
    assert ClipImport.objects.filter(user=streamer).count() == 1
