"""A PostHog outage never slows a request or a job; what is buffered is still flushed, bounded, at exit."""

import json
import threading
import time

import pytest
from django.db import transaction
from procrastinate.contrib.django import app as queue_app

from core import queue
from core.shutdown import run_shutdown_hooks
from integrations import posthog
from integrations.tests.fakes import POSTHOG_BATCH_URL, POSTHOG_HOST, POSTHOG_PROJECT_KEY

CLERK_ID = "user_2outage"
HANG_SECONDS = 3.0
TEST_QUEUE = "tests_posthog_outage"  # the worker runs only these jobs, not the periodic housekeeping
DEFINITIONS_URL = f"{POSTHOG_HOST}/flags/definitions"


@queue_app.task(name="tests.posthog_outage.captures", queue=TEST_QUEUE)
def capturing_job() -> None:
    posthog.capture("render succeeded", distinct_id=CLERK_ID, properties={"preset": "vertical"})


class FakePostHogEndpoint:
    """A PostHog endpoint that hangs for HANG_SECONDS, or answers at once once `released` is set."""

    def __init__(self, answer: dict):
        self.answer = answer
        self.bodies: list[dict] = []
        self.receiving = threading.Event()
        self.released = threading.Event()

    def __call__(self, request):
        self.receiving.set()
        self.released.wait(HANG_SECONDS)
        if request.body:
            self.bodies.append(json.loads(request.body))
        return 200, {"Content-Type": "application/json"}, json.dumps(self.answer)

    def events(self) -> list[str]:
        return [event["event"] for body in self.bodies for event in body.get("batch", [])]


@pytest.fixture
def posthog_endpoint(settings, mocked_http):
    """PostHog as in production (background sending), its batch endpoint hanging until released."""
    endpoint = FakePostHogEndpoint({"status": 1})
    mocked_http.add_callback("POST", POSTHOG_BATCH_URL, callback=endpoint)
    settings.POSTHOG_PROJECT_API_KEY = POSTHOG_PROJECT_KEY
    settings.POSTHOG_HOST = POSTHOG_HOST
    settings.POSTHOG_SYNC_MODE = False
    posthog.configure()
    yield endpoint
    # Answer what is in flight, so replacing the client (its shutdown drains the queue) is quick.
    endpoint.released.set()
    settings.POSTHOG_PROJECT_API_KEY = ""
    posthog.configure()


def stick_the_sender(endpoint: FakePostHogEndpoint) -> None:
    """Make the SDK's sender thread wait on the hanging endpoint, as it does while PostHog hangs."""
    posthog.capture("warm-up", distinct_id=CLERK_ID)
    threading.Thread(target=posthog.flush, daemon=True).start()
    assert endpoint.receiving.wait(timeout=5), "the SDK did not send"


class FakeAtexit:
    """Stands in for the `atexit` module as core.queue sees it."""

    def __init__(self):
        self.callbacks: list = []

    def register(self, callback) -> None:
        self.callbacks.append(callback)

    def unregister(self, callback) -> None:
        self.callbacks = [registered for registered in self.callbacks if registered != callback]


# --- Jobs and requests never wait ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_job_does_not_wait_for_a_hanging_posthog(run_queued_jobs, posthog_endpoint):
    with transaction.atomic():
        capturing_job.defer()

    started = time.monotonic()
    run_queued_jobs(queues=[TEST_QUEUE])
    elapsed = time.monotonic() - started

    # A flush after the job would wait for PostHog, up to FLUSH_TIMEOUT_SECONDS (2 s).
    assert elapsed < 1
    assert posthog.client().queue.unfinished_tasks >= 1  # the event waits in the SDK's queue, not in the job


def test_capture_returns_at_once_while_posthog_hangs(posthog_endpoint):
    stick_the_sender(posthog_endpoint)

    started = time.monotonic()
    for _ in range(20):
        posthog.capture("render requested", distinct_id=CLERK_ID)

    assert time.monotonic() - started < 0.5


def test_the_sdk_queue_is_bounded_while_posthog_hangs(posthog_endpoint, monkeypatch):
    monkeypatch.setattr(posthog, "MAX_QUEUED_EVENTS", 5)
    posthog.configure()
    stick_the_sender(posthog_endpoint)

    for _ in range(50):
        posthog.capture("render requested", distinct_id=CLERK_ID)  # past the bound: dropped, not raised

    assert posthog.client().queue.qsize() <= 5


def test_local_flag_evaluation_does_not_wait_for_hanging_definitions(settings, mocked_http, posthog_endpoint):
    definitions = FakePostHogEndpoint({"flags": [], "group_type_mapping": {}, "cohorts": {}})
    mocked_http.add_callback("GET", DEFINITIONS_URL, callback=definitions)
    settings.POSTHOG_SECRET_KEY = "phs_test_secret_key"
    settings.FEATURE_FLAG_DEFAULTS = {"beta-split": True}
    try:
        posthog.configure()
        assert definitions.receiving.wait(timeout=5), "the definitions were not requested"

        started = time.monotonic()
        flags = posthog.evaluate_flags(distinct_id=CLERK_ID, keys=["beta-split"])
        elapsed = time.monotonic() - started
    finally:
        definitions.released.set()
        settings.POSTHOG_SECRET_KEY = ""

    assert elapsed < 0.5
    assert flags.is_enabled("beta-split")  # the default, until the definitions arrive


# --- Flushed at exit, bounded ----------------------------------------------------------------------


def test_the_shutdown_hooks_are_registered_to_run_at_process_exit_once(monkeypatch):
    fake_atexit = FakeAtexit()
    monkeypatch.setattr(queue, "atexit", fake_atexit)

    queue.on_app_ready(queue_app)
    queue.on_app_ready(queue_app)  # Django set up twice in one process

    assert fake_atexit.callbacks == [run_shutdown_hooks]


def test_the_exit_hook_delivers_buffered_events(posthog_endpoint, monkeypatch):
    posthog_endpoint.released.set()  # PostHog answers
    fake_atexit = FakeAtexit()
    monkeypatch.setattr(queue, "atexit", fake_atexit)
    queue.on_app_ready(queue_app)
    posthog.capture("render failed", distinct_id=CLERK_ID, properties={"reason": "error"})

    for callback in fake_atexit.callbacks:
        callback()

    assert posthog_endpoint.events() == ["render failed"]


def test_the_exit_flush_gives_up_after_its_timeout_while_posthog_hangs(posthog_endpoint, monkeypatch):
    monkeypatch.setattr(posthog, "FLUSH_TIMEOUT_SECONDS", 0.3)
    posthog.capture("render failed", distinct_id=CLERK_ID)

    started = time.monotonic()
    run_shutdown_hooks()
    elapsed = time.monotonic() - started

    assert posthog_endpoint.receiving.is_set()  # it did try
    assert elapsed < 1  # the hang lasts 3 s
