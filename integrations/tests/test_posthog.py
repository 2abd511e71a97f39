"""PostHog: one client per process that never breaks its caller, flushed at shutdown, and the flags users get."""

import json
import logging
import runpy
import threading
import time
from pathlib import Path

import pytest
import requests
from django.db import transaction
from procrastinate.contrib.django import app as queue_app
from responses import matchers

from core import shutdown
from integrations import posthog
from integrations.tests.fakes import (
    POSTHOG_BATCH_URL,
    POSTHOG_FLAGS_URL,
    POSTHOG_HOST,
    POSTHOG_PROJECT_KEY,
    flags_answer,
    remote_flag,
)

SECRET_KEY = "phs_test_secret_key"
DEFINITIONS_URL = f"{POSTHOG_HOST}/flags/definitions"
GUNICORN_CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"
CLERK_ID = "user_2analytics"
TEST_QUEUE = "tests_posthog"  # the worker runs only these jobs, not the periodic housekeeping
LIMITS = {"monthly_renders": 30, "max_output_height": 1080}


class Rollback(Exception):
    pass


@transaction.atomic
def capture_then_roll_back(event: str) -> None:
    posthog.capture_on_commit(event, distinct_id=CLERK_ID, properties={"preset": "vertical"})
    raise Rollback


@queue_app.task(name="tests.posthog.succeeds", queue=TEST_QUEUE)
def succeeding_job() -> None:
    pass


@queue_app.task(name="tests.posthog.fails", queue=TEST_QUEUE)
def failing_job() -> None:
    raise RuntimeError("the job failed")


@pytest.fixture
def hook_calls():
    """A shutdown hook registered next to PostHog's flush; lists each time it ran. Removed afterwards."""
    calls: list[str] = []

    def record() -> None:
        calls.append(threading.current_thread().name)

    shutdown.register_shutdown_hook(record)
    yield calls
    shutdown._hooks.remove(record)


@pytest.fixture
def posthog_disabled(configure_posthog, mocked_http):
    """PostHog without a project key, but otherwise able to send: synchronously, to a host that answers.

    Whatever the client sent would be in `mocked_http.calls` when the call returns, so "nothing was
    sent" can be observed; an enabled client does send this way (see `posthog_enabled`).
    """
    mocked_http.post(POSTHOG_FLAGS_URL, json=flags_answer(remote_flag("beta-split")))
    configure_posthog("", sync_mode=True)
    return mocked_http


@pytest.fixture
def posthog_buffered(configure_posthog, mocked_http):
    """PostHog as in production: events wait in the SDK's background queue until a flush."""
    configure_posthog(sync_mode=False)
    return mocked_http


def batch_calls(mock) -> list:
    return [call for call in mock.calls if call.request.url == POSTHOG_BATCH_URL]


def flags_calls(mock) -> list:
    return [call for call in mock.calls if call.request.url.startswith(f"{POSTHOG_HOST}/flags/?")]


def sent_events(mock) -> list[dict]:
    batches = [json.loads(call.request.body) for call in batch_calls(mock)]
    return [event for batch in batches for event in batch["batch"] if not event["event"].startswith("$")]


def definition(key: str, *, rollout: int = 100, payload=None) -> dict:
    """A flag definition as /flags/definitions serves it for local evaluation."""
    return {
        "id": 11,
        "key": key,
        "name": key,
        "active": True,
        "ensure_experience_continuity": False,
        "filters": {
            "groups": [{"properties": [], "rollout_percentage": rollout}],
            "payloads": {"true": json.dumps(payload)} if payload is not None else {},
        },
    }


def definitions(*flags: dict) -> dict:
    return {"flags": list(flags), "group_type_mapping": {}, "cohorts": {}}


def wait_until(condition, *, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# --- Disabled without a project key ---------------------------------------------------------------


def test_without_a_project_key_the_client_is_disabled(posthog_disabled):
    assert posthog.is_enabled() is False
    assert posthog.client().disabled is True


def test_without_a_project_key_capture_set_person_and_flush_make_no_http_call(posthog_disabled):
    posthog.capture("clips imported", distinct_id=CLERK_ID, properties={"clips_created": 3})
    posthog.set_person(distinct_id=CLERK_ID, properties={"plan": "pro"})
    posthog.flush()
    posthog.client().flush()  # the SDK's own queue too, had anything reached it

    assert list(posthog_disabled.calls) == []


def test_the_same_calls_with_a_project_key_are_sent_at_once(posthog_enabled, mocked_http):
    # The control of the test above: in sync mode an enabled client sends before capture returns.
    posthog.capture("clips imported", distinct_id=CLERK_ID, properties={"clips_created": 3})
    posthog.set_person(distinct_id=CLERK_ID, properties={"plan": "pro"})

    sent = [event["event"] for call in batch_calls(mocked_http) for event in json.loads(call.request.body)["batch"]]
    assert sent == ["clips imported", "$set"]


def test_without_a_project_key_flag_evaluation_makes_no_http_call(posthog_disabled, settings):
    settings.POSTHOG_SECRET_KEY = SECRET_KEY  # even with a secret key, nothing is fetched
    posthog.configure()

    posthog.evaluate_flags(distinct_id=CLERK_ID, keys=["beta-split"])

    assert list(posthog_disabled.calls) == []


# --- Capture ----------------------------------------------------------------------------------------


def test_capture_sends_the_event_for_the_clerk_id_with_its_properties(posthog_enabled):
    posthog.capture("clips imported", distinct_id=CLERK_ID, properties={"clips_created": 3, "window_days": 7.0})

    [event] = posthog_enabled()
    assert event["event"] == "clips imported"
    assert event["distinct_id"] == CLERK_ID
    assert event["properties"]["clips_created"] == 3
    assert event["properties"]["window_days"] == 7.0


def test_capture_posts_to_the_configured_host_with_the_project_key(posthog_enabled, mocked_http):
    posthog.capture("render requested", distinct_id=CLERK_ID)

    [call] = batch_calls(mocked_http)
    assert json.loads(call.request.body)["api_key"] == POSTHOG_PROJECT_KEY


def test_capture_without_properties_sends_the_event_with_none_of_ours(posthog_enabled):
    posthog.capture("user deleted", distinct_id=CLERK_ID)

    [event] = posthog_enabled()
    assert event["event"] == "user deleted"
    assert {key for key in event["properties"] if not key.startswith("$")} == set()


@pytest.mark.parametrize("distinct_id", [None, ""])
def test_capture_without_a_distinct_id_sends_nothing(posthog_enabled, mocked_http, distinct_id):
    posthog.capture("render requested", distinct_id=distinct_id, properties={"preset": "vertical"})
    posthog.set_person(distinct_id=distinct_id, properties={"plan": "pro"})

    assert batch_calls(mocked_http) == []


@pytest.mark.parametrize(
    "outage",
    [
        {"status": 500, "json": {"detail": "server error"}},
        {"body": requests.ConnectionError("PostHog is down")},
        {"body": requests.Timeout("PostHog is slow")},
    ],
    ids=["http-500", "connection-error", "timeout"],
)
def test_a_posthog_failure_is_logged_and_swallowed(posthog_enabled, mocked_http, caplog, outage):
    mocked_http.replace("POST", POSTHOG_BATCH_URL, **outage)

    with caplog.at_level(logging.WARNING):
        result = posthog.capture("render requested", distinct_id=CLERK_ID, properties={"preset": "vertical"})

    assert result is None
    assert batch_calls(mocked_http)  # it was attempted
    # Logged by the SDK (or, should it raise, by our wrapper), never raised.
    assert [record for record in caplog.records if record.name in ("posthog", "integrations.posthog")]


def test_a_failing_flush_is_swallowed(posthog_buffered):
    posthog_buffered.replace("POST", POSTHOG_BATCH_URL, body=requests.ConnectionError("PostHog is down"))
    posthog.capture("render requested", distinct_id=CLERK_ID)

    posthog.flush()  # does not raise

    assert batch_calls(posthog_buffered)


def test_capture_on_commit_sends_only_once_the_transaction_commits(posthog_enabled, transactional_db):
    with transaction.atomic():
        posthog.capture_on_commit("render requested", distinct_id=CLERK_ID, properties={"preset": "vertical"})
        assert posthog_enabled() == []

    [event] = posthog_enabled()
    assert (event["event"], event["properties"]["preset"]) == ("render requested", "vertical")


def test_capture_on_commit_inside_a_rolled_back_transaction_sends_nothing(
    posthog_enabled, mocked_http, transactional_db
):
    with pytest.raises(Rollback):
        capture_then_roll_back("render requested")

    assert batch_calls(mocked_http) == []


def test_capture_on_commit_inside_a_rolled_back_savepoint_sends_only_the_committed_events(
    posthog_enabled, transactional_db
):
    with transaction.atomic():
        posthog.capture_on_commit("clips imported", distinct_id=CLERK_ID)
        with pytest.raises(Rollback):
            capture_then_roll_back("render requested")

    assert [event["event"] for event in posthog_enabled()] == ["clips imported"]


# --- Flushing at shutdown ---------------------------------------------------------------------------


def test_configuring_the_client_registers_its_flush_as_a_shutdown_hook(posthog_enabled):
    assert posthog.flush in shutdown._hooks
    assert shutdown._hooks.count(posthog.flush) == 1  # configuring again does not register it twice


def test_run_shutdown_hooks_delivers_events_still_buffered(posthog_buffered):
    posthog.capture("render succeeded", distinct_id=CLERK_ID, properties={"cost": 0.01})

    shutdown.run_shutdown_hooks()

    [event] = sent_events(posthog_buffered)
    assert (event["event"], event["distinct_id"]) == ("render succeeded", CLERK_ID)


def test_a_failing_shutdown_hook_does_not_stop_the_others(hook_calls):
    def broken() -> None:
        raise RuntimeError("boom")

    shutdown._hooks.insert(0, broken)
    try:
        shutdown.run_shutdown_hooks()
    finally:
        shutdown._hooks.remove(broken)

    assert len(hook_calls) == 1


def test_gunicorn_worker_exit_runs_the_shutdown_hooks(hook_calls):
    config = runpy.run_path(str(GUNICORN_CONF))

    config["worker_exit"](server=None, worker=None)

    assert len(hook_calls) == 1


def test_gunicorn_worker_exit_delivers_buffered_events(posthog_buffered):
    config = runpy.run_path(str(GUNICORN_CONF))
    posthog.capture("render failed", distinct_id=CLERK_ID, properties={"reason": "error"})

    config["worker_exit"](server=None, worker=None)

    assert [event["event"] for event in sent_events(posthog_buffered)] == ["render failed"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("task", [succeeding_job, failing_job], ids=["succeeded", "failed"])
def test_the_queue_worker_does_not_run_the_shutdown_hooks_after_each_job(run_queued_jobs, hook_calls, task):
    # Events leave from the SDK's background thread; the hooks run once, at process exit
    # (see test_posthog_outage.py).
    with transaction.atomic():
        task.defer()
        task.defer()

    run_queued_jobs(queues=[TEST_QUEUE])

    assert hook_calls == []


# --- Flags: defaults ------------------------------------------------------------------------------


def test_flags_come_from_feature_flag_defaults_when_posthog_is_disabled(posthog_disabled, settings):
    settings.FEATURE_FLAG_DEFAULTS = {
        "beta-split": True,
        "old-editor": False,
        "render-limits": {"enabled": True, "payload": LIMITS},
        "paused": {"enabled": False, "payload": {"x": 1}},
    }

    flags = posthog.evaluate_flags(distinct_id=CLERK_ID, keys=["unknown-flag"])

    assert flags.as_dict() == {
        "beta-split": {"enabled": True, "variant": None, "payload": None},
        "old-editor": {"enabled": False, "variant": None, "payload": None},
        "paused": {"enabled": False, "variant": None, "payload": {"x": 1}},
        "render-limits": {"enabled": True, "variant": None, "payload": LIMITS},
        "unknown-flag": {"enabled": False, "variant": None, "payload": None},
    }
    assert flags.is_enabled("beta-split")
    assert not flags.is_enabled("unknown-flag")
    assert flags.payload("render-limits") == LIMITS
    assert flags.payload("paused") is None  # a disabled flag has no payload to act on
    assert list(posthog_disabled.calls) == []


def test_a_default_flag_dict_without_enabled_counts_as_on(posthog_disabled, settings):
    settings.FEATURE_FLAG_DEFAULTS = {"render-limits": {"payload": LIMITS}}

    flags = posthog.evaluate_flags(distinct_id=CLERK_ID)

    assert flags.is_enabled("render-limits")
    assert flags.payload("render-limits") == LIMITS


def test_a_user_without_a_clerk_id_gets_the_defaults_without_asking_posthog(posthog_enabled, mocked_http, settings):
    settings.FEATURE_FLAG_DEFAULTS = {"beta-split": True}

    flags = posthog.evaluate_flags(distinct_id="", keys=["render-limits"])

    assert flags.is_enabled("beta-split")
    assert not flags.is_enabled("render-limits")
    assert flags_calls(mocked_http) == []


def test_an_unknown_or_empty_key_is_off():
    flags = posthog.FeatureFlags({"beta-split": posthog.Flag(enabled=True)})

    assert not flags.is_enabled("")
    assert not flags.is_enabled("nope")
    assert flags.payload("nope") is None


# --- Flags: remote evaluation ---------------------------------------------------------------------


def test_remote_evaluation_asks_the_flags_endpoint_for_the_user_and_the_wanted_keys(
    posthog_enabled, mocked_http, settings
):
    settings.FEATURE_FLAG_DEFAULTS = {"render-limits": False}
    mocked_http.post(POSTHOG_FLAGS_URL, json=flags_answer(remote_flag("beta-split")))

    posthog.evaluate_flags(distinct_id=CLERK_ID, keys=["beta-split"])

    [call] = flags_calls(mocked_http)
    body = json.loads(call.request.body)
    assert body["distinct_id"] == CLERK_ID
    assert sorted(body["flag_keys_to_evaluate"]) == ["beta-split", "render-limits"]
    assert body["api_key"] == POSTHOG_PROJECT_KEY


def test_remote_evaluation_reads_enabled_variants_and_json_payloads(posthog_enabled, mocked_http):
    mocked_http.post(
        POSTHOG_FLAGS_URL,
        json=flags_answer(
            remote_flag("render-limits", payload=LIMITS),
            remote_flag("editor", variant="compact"),
            remote_flag("beta-split", enabled=False),
        ),
    )

    flags = posthog.evaluate_flags(distinct_id=CLERK_ID, keys=["render-limits", "editor", "beta-split"])

    assert flags.as_dict() == {
        "beta-split": {"enabled": False, "variant": None, "payload": None},
        "editor": {"enabled": True, "variant": "compact", "payload": None},
        "render-limits": {"enabled": True, "variant": None, "payload": LIMITS},
    }


def test_remote_evaluation_reads_typed_records(posthog_enabled, mocked_http):
    """/flags?v=4 records may carry a typed `value` instead of enabled/variant."""
    typed = {
        "render-limits": {"key": "render-limits", "value": True, "metadata": {"id": 1, "payload": json.dumps(LIMITS)}},
        "editor": {"key": "editor", "value": "compact", "metadata": {"id": 2}},
        "beta-split": {"key": "beta-split", "value": False, "metadata": {"id": 3}},
    }
    mocked_http.post(POSTHOG_FLAGS_URL, json={"flags": typed})

    flags = posthog.evaluate_flags(distinct_id=CLERK_ID, keys=list(typed))

    assert flags.as_dict() == {
        "beta-split": {"enabled": False, "variant": None, "payload": None},
        "editor": {"enabled": True, "variant": "compact", "payload": None},
        "render-limits": {"enabled": True, "variant": None, "payload": LIMITS},
    }


def test_a_flag_posthog_failed_to_compute_keeps_its_default(posthog_enabled, mocked_http, settings):
    settings.FEATURE_FLAG_DEFAULTS = {"render-limits": {"enabled": True, "payload": LIMITS}}
    failed = {**remote_flag("render-limits", enabled=False), "failed": True}
    mocked_http.post(
        POSTHOG_FLAGS_URL, json={**flags_answer(failed, remote_flag("beta-split")), "errorsWhileComputingFlags": True}
    )

    flags = posthog.evaluate_flags(distinct_id=CLERK_ID, keys=["beta-split"])

    assert flags.payload("render-limits") == LIMITS
    assert flags.is_enabled("beta-split")


def test_posthogs_answer_overrides_the_default(posthog_enabled, mocked_http, settings):
    settings.FEATURE_FLAG_DEFAULTS = {"beta-split": True, "render-limits": {"enabled": True, "payload": {"x": 1}}}
    mocked_http.post(
        POSTHOG_FLAGS_URL,
        json=flags_answer(remote_flag("beta-split", enabled=False), remote_flag("render-limits", payload=LIMITS)),
    )

    flags = posthog.evaluate_flags(distinct_id=CLERK_ID)

    assert not flags.is_enabled("beta-split")
    assert flags.payload("render-limits") == LIMITS


def test_a_flag_posthog_does_not_know_keeps_its_default(posthog_enabled, mocked_http, settings):
    settings.FEATURE_FLAG_DEFAULTS = {"beta-split": True}
    mocked_http.post(POSTHOG_FLAGS_URL, json=flags_answer(remote_flag("render-limits", payload=LIMITS)))

    flags = posthog.evaluate_flags(distinct_id=CLERK_ID, keys=["render-limits", "never-created"])

    assert flags.is_enabled("beta-split")
    assert flags.is_enabled("render-limits")
    assert not flags.is_enabled("never-created")


@pytest.mark.parametrize(
    "outage",
    [
        {"body": requests.Timeout("PostHog is slow")},
        {"body": requests.ConnectionError("PostHog is down")},
        {"status": 500, "json": {"detail": "server error"}},
        {"status": 200, "body": "<html>not json</html>"},
    ],
    ids=["timeout", "connection-error", "http-500", "not-json"],
)
def test_flags_fall_back_to_the_defaults_when_posthog_fails(posthog_enabled, mocked_http, settings, outage):
    settings.FEATURE_FLAG_DEFAULTS = {"beta-split": True, "render-limits": {"enabled": True, "payload": LIMITS}}
    mocked_http.post(POSTHOG_FLAGS_URL, **outage)

    started = time.monotonic()
    flags = posthog.evaluate_flags(distinct_id=CLERK_ID, keys=["render-limits", "other"])

    assert time.monotonic() - started < 1
    assert len(flags_calls(mocked_http)) == 1  # asked once, not retried on the request path
    assert flags.as_dict() == {
        "beta-split": {"enabled": True, "variant": None, "payload": None},
        "other": {"enabled": False, "variant": None, "payload": None},
        "render-limits": {"enabled": True, "variant": None, "payload": LIMITS},
    }


def test_remote_flag_requests_use_the_short_flags_timeout(posthog_enabled, settings):
    settings.POSTHOG_FLAGS_TIMEOUT_SECONDS = 0.25

    client = posthog.configure()

    assert client.feature_flags_request_timeout_seconds == 0.25


def test_each_user_gets_posthogs_answer_for_them(posthog_enabled, mocked_http):
    mocked_http.post(
        POSTHOG_FLAGS_URL,
        match=[matchers.json_params_matcher({"distinct_id": CLERK_ID}, strict_match=False)],
        json=flags_answer(remote_flag("beta-split")),
    )
    mocked_http.post(
        POSTHOG_FLAGS_URL,
        match=[matchers.json_params_matcher({"distinct_id": "user_2other"}, strict_match=False)],
        json=flags_answer(remote_flag("beta-split", enabled=False)),
    )

    assert posthog.evaluate_flags(distinct_id=CLERK_ID, keys=["beta-split"]).is_enabled("beta-split")
    assert not posthog.evaluate_flags(distinct_id="user_2other", keys=["beta-split"]).is_enabled("beta-split")


# --- Flags: local evaluation ----------------------------------------------------------------------


@pytest.fixture
def local_flags(posthog_enabled, mocked_http, settings):
    """PostHog with a secret key: `serve(*definitions)` answers the definitions poll, then reconfigures."""
    settings.POSTHOG_SECRET_KEY = SECRET_KEY

    def serve(*flags: dict, **response):
        mocked_http.get(
            DEFINITIONS_URL,
            match=[matchers.query_param_matcher({"token": POSTHOG_PROJECT_KEY, "send_cohorts": ""})],
            **(response or {"json": definitions(*flags)}),
        )
        posthog.configure()
        posthog._definitions_loader.join(timeout=5)  # the background load, as a warmed-up process has done

    yield serve
    settings.POSTHOG_SECRET_KEY = ""


def definition_calls(mock) -> list:
    return [call for call in mock.calls if call.request.url.startswith(DEFINITIONS_URL)]


def test_local_evaluation_uses_the_definitions_without_a_flags_call(local_flags, mocked_http, settings):
    settings.FEATURE_FLAG_DEFAULTS = {"render-limits": {"enabled": True, "payload": {"monthly_renders": 1}}}
    local_flags(definition("render-limits", payload=LIMITS), definition("beta-split", rollout=0))

    flags = posthog.evaluate_flags(distinct_id=CLERK_ID, keys=["render-limits", "beta-split"])

    assert flags.as_dict() == {
        "beta-split": {"enabled": False, "variant": None, "payload": None},
        "render-limits": {"enabled": True, "variant": None, "payload": LIMITS},
    }
    assert flags_calls(mocked_http) == []
    [fetch] = definition_calls(mocked_http)
    assert fetch.request.headers["Authorization"] == f"Bearer {SECRET_KEY}"


def test_local_evaluation_fetches_the_definitions_once_for_many_evaluations(local_flags, mocked_http):
    local_flags(definition("beta-split"))

    for distinct_id in (CLERK_ID, "user_2other", "user_2third"):
        assert posthog.evaluate_flags(distinct_id=distinct_id, keys=["beta-split"]).is_enabled("beta-split")

    assert len(definition_calls(mocked_http)) == 1
    assert flags_calls(mocked_http) == []


def test_local_evaluation_of_a_flag_missing_from_the_definitions_keeps_its_default(local_flags, mocked_http, settings):
    settings.FEATURE_FLAG_DEFAULTS = {"new-editor": True}
    local_flags(definition("beta-split"))

    flags = posthog.evaluate_flags(distinct_id=CLERK_ID, keys=["beta-split", "brand-new"])

    assert flags.is_enabled("new-editor")
    assert not flags.is_enabled("brand-new")
    assert flags_calls(mocked_http) == []


@pytest.mark.parametrize(
    "outage",
    [{"status": 500, "json": {"detail": "server error"}}, {"body": requests.ConnectionError("down")}],
    ids=["http-500", "connection-error"],
)
def test_local_evaluation_falls_back_to_the_defaults_when_the_definitions_cannot_load(
    local_flags, mocked_http, settings, outage
):
    settings.FEATURE_FLAG_DEFAULTS = {"beta-split": True}
    local_flags(**outage)

    flags = posthog.evaluate_flags(distinct_id=CLERK_ID, keys=["beta-split", "render-limits"])

    assert flags.is_enabled("beta-split")
    assert not flags.is_enabled("render-limits")
    assert flags_calls(mocked_http) == []


def test_definitions_loaded_by_the_client_are_used_for_evaluation(local_flags, mocked_http):
    local_flags(definition("beta-split"))

    # configure() loads the definitions in the background, off the request path.
    assert wait_until(lambda: posthog.client().feature_flags)
    flags = posthog.evaluate_flags(distinct_id=CLERK_ID, keys=["beta-split"])

    assert flags.is_enabled("beta-split")
    assert len(definition_calls(mocked_http)) == 1
    assert flags_calls(mocked_http) == []


def test_while_the_definitions_cannot_load_evaluations_do_not_each_fetch_them_again(local_flags, mocked_http):
    local_flags(status=500, json={"detail": "server error"})

    for _ in range(3):
        posthog.evaluate_flags(distinct_id=CLERK_ID, keys=["beta-split"])

    assert len(definition_calls(mocked_http)) <= 1
