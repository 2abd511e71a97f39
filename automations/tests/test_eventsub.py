"""Twitch EventSub: deliveries verified with real signatures and applied once, streams noticed and their clips
imported, and our subscriptions kept in step with the linked users."""

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import requests
from django.contrib.messages import constants as message_levels
from django.core.management import CommandError, call_command
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from procrastinate.contrib.django import app as queue_app
from procrastinate.contrib.django.models import ProcrastinateJob
from responses import matchers

from accounts.models import TwitchAccount, WebhookDelivery
from accounts.services import clerk_user_mark_deleted, clerk_user_upsert
from accounts.tests.factories import link_twitch, make_user
from automations.eventsub import eventsub_reconcile, eventsub_sync_user
from automations.models import EventSubSubscription, Stream
from automations.streams import stream_import
from automations.tests.conftest import EVENTSUB_CALLBACK_URL
from clips.models import ClipImport
from clips.services import clip_import_start
from core.tests.helpers import error_code, run_action_with_levels
from integrations.tests.fakes import (
    BROADCASTER_ID,
    EVENTSUB_CALLBACK,
    EVENTSUB_SECRET,
    EVENTSUB_SUBSCRIPTIONS_URL,
    VIDEOS_URL,
    clerk_user,
    eventsub_delivery,
    eventsub_payload,
    helix_archive_videos,
    helix_eventsub_created,
    load_fixture,
)

Status = EventSubSubscription.Status
WEBHOOK_URL = "/webhooks/twitch/"
IMPORT_TASK = "automations.tasks.import_stream_clips"
SYNC_TASK = "automations.tasks.sync_user_eventsub"
# The subscriptions of the fixtures: the streamer's two, and one of a broadcaster nobody links.
ONLINE_ID = "26b1c993-bfcf-44d9-b876-379dacafe75a"
OFFLINE_ID = "f1c2a387-161a-49f9-a165-0f21d7a4e1c4"
ORPHAN_ID = "35016908-41ff-33ce-7879-61b8dfc2ee16"
STARTED_AT = datetime(2026, 10, 3, 19, 0, 4, tzinfo=UTC)  # eventsub.stream.online.json's started_at
STRANGER_BROADCASTER = "222222"
REMOVED_BROADCASTER = "777777"
UNLINKED_BROADCASTER = "987654"  # eventsub.list.page2.json's


# --- Helpers ----------------------------------------------------------------------------------------


def post(client, body: bytes, headers: dict):
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", headers=headers)


def deliver(client, payload: dict, **options):
    """POST the payload to the webhook as Twitch does: raw bytes, signed headers (`options`: eventsub_delivery's)."""
    return post(client, *eventsub_delivery(payload, **options))


@pytest.fixture
def queued(db):
    """`queued(task)`: the jobs of that task queued during this test (the queue may hold committed jobs of
    other modules' transactional tests)."""
    last = ProcrastinateJob.objects.aggregate(last=Max("id"))["last"] or 0
    return lambda task: ProcrastinateJob.objects.filter(task_name=task, id__gt=last)


def subscription_row(twitch_id: str, kind: str, *, user=None, status=Status.ENABLED, broadcaster=BROADCASTER_ID):
    return EventSubSubscription.objects.create(
        twitch_subscription_id=twitch_id, type=kind, broadcaster_user_id=broadcaster, user=user, status=status
    )


def remote(subscription_id: str, kind: str, broadcaster: str, *, status="enabled", callback=EVENTSUB_CALLBACK_URL):
    """One subscription as Helix lists it (the shape of eventsub.list.page1.json's)."""
    subscription = load_fixture("twitch/eventsub.list.page1.json")["data"][0]
    return {
        **subscription,
        "id": subscription_id,
        "type": kind,
        "status": status,
        "condition": {"broadcaster_user_id": broadcaster},
        "transport": {"method": "webhook", "callback": callback},
    }


def ours(subscription: dict, **fields) -> dict:
    """A fixture's subscription, made for our callback (the fixtures name another environment's)."""
    return {**subscription, "transport": {"method": "webhook", "callback": EVENTSUB_CALLBACK_URL}, **fields}


def serve_listing(mock, *pages: list[dict], fail_page: int | None = None) -> None:
    """GET /eventsub/subscriptions answers these pages, chained by cursor and told apart by the `after` param
    (a request for any other page fails on the unregistered mock). Page number `fail_page` is unreachable."""
    cursor = load_fixture("twitch/eventsub.list.page1.json")["pagination"]["cursor"]
    for number, data in enumerate(pages):
        page = load_fixture(f"twitch/eventsub.list.page{2 if number else 1}.json")
        last = number == len(pages) - 1
        page.update(data=data, total=sum(map(len, pages)), pagination={} if last else {"cursor": f"{cursor}-{number}"})
        params = {"after": f"{cursor}-{number - 1}"} if number else {}
        answer = {"body": requests.ConnectionError("reset")} if number == fail_page else {"json": page}
        mock.get(EVENTSUB_SUBSCRIPTIONS_URL, match=[matchers.query_param_matcher(params)], **answer)


def accept_changes(mock) -> None:
    """POST creates what it is sent (202, pending verification); DELETE answers 204."""

    def create(request):
        sent = json.loads(request.body)
        created = helix_eventsub_created(
            id=f"new:{sent['type']}:{sent['condition']['broadcaster_user_id']}",
            type=sent["type"],
            condition=sent["condition"],
            transport={"method": "webhook", "callback": sent["transport"]["callback"]},
        )
        return 202, {}, json.dumps(created)

    mock.add_callback("POST", EVENTSUB_SUBSCRIPTIONS_URL, callback=create, content_type="application/json")
    mock.delete(EVENTSUB_SUBSCRIPTIONS_URL, status=204)


def helix_calls(mock, method: str) -> list:
    return [
        call.request
        for call in mock.calls
        if call.request.method == method and call.request.url.startswith(EVENTSUB_SUBSCRIPTIONS_URL)
    ]


def created(mock) -> set[tuple[str, str]]:
    bodies = [json.loads(request.body) for request in helix_calls(mock, "POST")]
    return {(body["type"], body["condition"]["broadcaster_user_id"]) for body in bodies}


def deleted(mock) -> list[str]:
    return [request.params["id"] for request in helix_calls(mock, "DELETE")]


def rows() -> dict[str, tuple]:
    return {
        row.twitch_subscription_id: (row.type, row.broadcaster_user_id, row.user_id, row.status, row.revocation_reason)
        for row in EventSubSubscription.objects.all()
    }


def helix_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Verification -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_verification_is_answered_with_the_challenge_as_plain_text_and_enables_the_subscription(
    client, eventsub, streamer
):
    row = subscription_row(OFFLINE_ID, "stream.offline", user=streamer, status=Status.PENDING)

    response = deliver(client, eventsub_payload("verification", challenge="a-challenge-of-ours-42"))

    assert response.status_code == 200
    assert response.content == b"a-challenge-of-ours-42"
    assert response["Content-Type"] == "text/plain"
    row.refresh_from_db()
    assert row.status == Status.ENABLED


@pytest.mark.django_db
def test_a_verification_without_a_local_row_is_still_answered_each_time_it_comes(client, eventsub):
    body, headers = eventsub_delivery(eventsub_payload("verification"))

    answers = [post(client, body, headers) for _ in range(2)]

    challenge = eventsub_payload("verification")["challenge"].encode()
    assert [(answer.status_code, answer.content) for answer in answers] == [(200, challenge)] * 2
    assert not EventSubSubscription.objects.exists()


# --- Deliveries that are not from Twitch --------------------------------------------------------------


def tampered_body(payload: dict) -> tuple[bytes, dict]:
    body, headers = eventsub_delivery(payload)
    changed = body.replace(b'"type":"live"', b'"type":"rerun"')
    assert changed != body
    return changed, headers


def another_secret(payload: dict) -> tuple[bytes, dict]:
    return eventsub_delivery(payload, secret="someone-elses-secret-123")


def another_message_id(payload: dict) -> tuple[bytes, dict]:
    body, headers = eventsub_delivery(payload)
    return body, {**headers, "Twitch-Eventsub-Message-Id": "another-message-id"}


def sent_11_minutes_ago(payload: dict) -> tuple[bytes, dict]:
    return eventsub_delivery(payload, timestamp=datetime.now(UTC) - timedelta(minutes=11))


def sent_11_minutes_ahead(payload: dict) -> tuple[bytes, dict]:
    return eventsub_delivery(payload, timestamp=datetime.now(UTC) + timedelta(minutes=11))


def unsigned(payload: dict) -> tuple[bytes, dict]:
    body, headers = eventsub_delivery(payload)
    return body, {name: value for name, value in headers.items() if name != "Twitch-Eventsub-Message-Signature"}


def without_twitch_headers(payload: dict) -> tuple[bytes, dict]:
    return eventsub_delivery(payload)[0], {}


REJECTIONS = [
    (tampered_body, "bad_signature"),
    (another_secret, "bad_signature"),
    (another_message_id, "bad_signature"),  # the id is signed too
    (sent_11_minutes_ago, "stale_timestamp"),
    (sent_11_minutes_ahead, "stale_timestamp"),
    (unsigned, "missing_headers"),
    (without_twitch_headers, "missing_headers"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("forge", "code"), REJECTIONS, ids=[forge.__name__ for forge, _ in REJECTIONS])
def test_a_delivery_not_signed_by_twitch_just_now_is_refused_and_nothing_is_recorded(
    client, eventsub, streamer, forge, code
):
    response = post(client, *forge(eventsub_payload("stream.online")))

    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert error_code(response) == code
    assert response.json()["error"]["message"]
    assert not WebhookDelivery.objects.exists()
    assert not Stream.objects.exists()


@pytest.mark.django_db
def test_without_a_secret_the_webhook_answers_503_and_records_nothing(client, eventsub, streamer, settings):
    settings.TWITCH_EVENTSUB_SECRET = ""

    response = deliver(client, eventsub_payload("stream.online"))

    assert response.status_code == 503
    assert error_code(response) == "not_configured"
    assert not WebhookDelivery.objects.exists()
    assert not Stream.objects.exists()


@pytest.mark.django_db
def test_a_signed_body_that_is_not_an_eventsub_message_is_a_400(client, eventsub, streamer):
    body, headers = eventsub_delivery({"subscription": {"type": "stream.online"}}, message_type="notification")

    response = post(client, body, headers)

    assert response.status_code == 400
    assert error_code(response) == "invalid_message"
    assert not WebhookDelivery.objects.exists()


# --- Notifications ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_redelivery_is_acknowledged_and_applied_once(queued, client, eventsub, streamer):
    body, headers = eventsub_delivery(eventsub_payload("stream.offline"))

    answers = [post(client, body, headers) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [204] * 3
    assert Stream.objects.count() == 1
    assert queued(IMPORT_TASK).count() == 2  # one per delay, queued once
    assert WebhookDelivery.objects.filter(source=WebhookDelivery.Source.TWITCH).count() == 1


@pytest.mark.django_db
def test_a_stream_is_recorded_from_online_to_offline_then_its_clips_imported_twice(
    queued, client, eventsub, streamer, analytics_events, committed
):
    with committed():
        online = deliver(client, eventsub_payload("stream.online"))

    assert online.status_code == 204
    stream = Stream.objects.get()
    assert (stream.user, stream.broadcaster_user_id, stream.twitch_stream_id) == (
        streamer,
        BROADCASTER_ID,
        "40532137861",
    )
    assert (stream.started_at, stream.ended_at) == (STARTED_AT, None)
    assert not queued(IMPORT_TASK).exists()

    ended_at = timezone.now() - timedelta(seconds=3)
    with committed():
        offline = deliver(client, eventsub_payload("stream.offline"), timestamp=ended_at)

    assert offline.status_code == 204
    stream.refresh_from_db()
    assert stream.ended_at == ended_at  # the message's timestamp
    assert Stream.objects.count() == 1
    jobs = list(queued(IMPORT_TASK).order_by("scheduled_at"))
    assert [job.args for job in jobs] == [{"stream_id": str(stream.pk)}] * 2
    delays = [(job.scheduled_at - timezone.now()).total_seconds() for job in jobs]
    assert delays == pytest.approx([300, 3600], abs=30)
    seconds = round((ended_at - STARTED_AT).total_seconds())
    assert analytics_events() == [
        ("stream ended", streamer.clerk_id, {"stream_id": str(stream.pk), "stream_seconds": seconds})
    ]


@pytest.mark.django_db
def test_a_notification_marks_when_its_subscription_last_spoke(client, eventsub, streamer):
    row = subscription_row(ONLINE_ID, "stream.online", user=streamer)

    deliver(client, eventsub_payload("stream.online"))

    row.refresh_from_db()
    assert row.last_notification_at is not None
    assert abs(row.last_notification_at - timezone.now()) < timedelta(minutes=1)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["stream.online", "stream.offline"])
def test_a_notification_for_a_broadcaster_nobody_links_changes_nothing(queued, client, eventsub, streamer, kind):
    response = deliver(client, eventsub_payload(kind, broadcaster_id=UNLINKED_BROADCASTER))

    assert response.status_code == 204
    assert not Stream.objects.exists()
    assert not queued(IMPORT_TASK).exists()


@pytest.mark.django_db
def test_the_streams_of_a_broadcaster_whose_first_user_was_deleted_go_to_the_user_who_links_it_now(
    client, eventsub, streamer
):
    clerk_user_mark_deleted(clerk_id=streamer.clerk_id)  # their TwitchAccount row stays
    heir = make_user("heir")
    link_twitch(heir)

    deliver(client, eventsub_payload("stream.online"))

    assert Stream.objects.get().user == heir


# --- Revocations --------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["authorization_revoked", "user_removed", "notification_failures_exceeded"])
def test_a_revocation_marks_the_subscription_revoked_with_its_reason(client, eventsub, streamer, reason):
    row = subscription_row(ONLINE_ID, "stream.online", user=streamer)

    response = deliver(client, eventsub_payload("revocation", status=reason))

    assert response.status_code == 204
    row.refresh_from_db()
    assert (row.status, row.revocation_reason) == (reason, reason)
    assert not Stream.objects.exists()


# --- Reconciliation -----------------------------------------------------------------------------------


@pytest.fixture
def linked(streamer, stranger):
    """Three linked users: the streamer, the stranger, and one whose Twitch user Twitch removed."""
    link_twitch(stranger, twitch_user_id=STRANGER_BROADCASTER, login="strangerstreams")
    removed = make_user("removed")
    link_twitch(removed, twitch_user_id=REMOVED_BROADCASTER, login="removedstreams")
    return {"streamer": streamer, "stranger": stranger, "removed": removed}


@pytest.fixture
def helix(eventsub, linked):
    """Twitch's list, over two pages: the streamer's stream.online (live) and stream.offline (revoked for
    failures: revivable), an orphan (revoked, broadcaster not linked), the removed user's stream.online
    (user_removed: for good), and two of another environment (another callback). Creates and deletes succeed."""
    page1 = [ours(sub) for sub in load_fixture("twitch/eventsub.list.page1.json")["data"]]
    page1[1]["status"] = "notification_failures_exceeded"
    page2 = [
        ours(load_fixture("twitch/eventsub.list.page2.json")["data"][0]),
        remote("gone-777", "stream.online", REMOVED_BROADCASTER, status="user_removed"),
        remote("staging-1", "stream.online", STRANGER_BROADCASTER, callback=EVENTSUB_CALLBACK),
        remote("staging-2", "stream.offline", UNLINKED_BROADCASTER, callback=EVENTSUB_CALLBACK),
    ]
    serve_listing(eventsub, page1, page2)
    accept_changes(eventsub)
    return eventsub


EXPECTED_CREATES = {
    ("stream.offline", BROADCASTER_ID),  # revoked for failures: re-created
    ("stream.online", STRANGER_BROADCASTER),
    ("stream.offline", STRANGER_BROADCASTER),
    ("stream.offline", REMOVED_BROADCASTER),
}


@pytest.mark.django_db
def test_reconciliation_reads_every_page_of_the_list(helix):
    eventsub_reconcile()

    afters = [request.params.get("after") for request in helix_calls(helix, "GET")]
    assert len(afters) == 2
    assert afters[0] is None
    assert afters[1]


@pytest.mark.django_db
def test_reconciliation_subscribes_linked_users_to_what_they_miss(helix, linked):
    report = eventsub_reconcile()

    assert created(helix) == EXPECTED_CREATES
    for request in helix_calls(helix, "POST"):
        body = json.loads(request.body)
        assert body == {
            "type": body["type"],
            "version": "1",
            "condition": {"broadcaster_user_id": body["condition"]["broadcaster_user_id"]},
            "transport": {"method": "webhook", "callback": EVENTSUB_CALLBACK_URL, "secret": EVENTSUB_SECRET},
        }
    stranger = linked["stranger"].pk
    assert rows()[f"new:stream.online:{STRANGER_BROADCASTER}"] == (
        "stream.online",
        STRANGER_BROADCASTER,
        stranger,
        Status.PENDING,
        "",
    )
    assert rows()[f"new:stream.offline:{STRANGER_BROADCASTER}"][2:4] == (stranger, Status.PENDING)
    assert str(report) == "created 4, deleted 2, kept 1, revoked for good 1"


@pytest.mark.django_db
def test_reconciliation_deletes_orphans_and_recreates_subscriptions_revoked_for_a_curable_reason(helix, linked):
    eventsub_reconcile()

    assert deleted(helix) == [OFFLINE_ID, ORPHAN_ID]
    streamer = linked["streamer"].pk
    found = rows()
    assert found[OFFLINE_ID] == (
        "stream.offline",
        BROADCASTER_ID,
        streamer,
        Status.DELETED,
        "notification_failures_exceeded",
    )
    assert found[f"new:stream.offline:{BROADCASTER_ID}"][2:4] == (streamer, Status.PENDING)
    assert found[ORPHAN_ID][1:4] == (UNLINKED_BROADCASTER, None, Status.DELETED)
    assert found[ONLINE_ID] == ("stream.online", BROADCASTER_ID, streamer, Status.ENABLED, "")


@pytest.mark.django_db
def test_a_subscription_revoked_because_twitch_removed_the_user_is_not_recreated(helix, linked):
    report = eventsub_reconcile()

    assert ("stream.online", REMOVED_BROADCASTER) not in created(helix)
    assert "gone-777" not in deleted(helix)
    assert report.not_revivable == ["gone-777"]
    assert rows()["gone-777"] == (
        "stream.online",
        REMOVED_BROADCASTER,
        linked["removed"].pk,
        Status.USER_REMOVED,
        "user_removed",
    )


@pytest.mark.django_db
def test_subscriptions_with_another_callback_are_left_alone(helix):
    eventsub_reconcile()

    assert not {"staging-1", "staging-2"} & set(deleted(helix))
    assert not {"staging-1", "staging-2"} & set(rows())


@pytest.mark.django_db
def test_a_second_reconciliation_changes_nothing_more(eventsub, linked):
    live = [
        remote(f"live-{kind}-{account.twitch_user_id}", kind, account.twitch_user_id)
        for account in TwitchAccount.objects.all()
        for kind in ("stream.online", "stream.offline")
    ]
    serve_listing(eventsub, live[:3], live[3:])
    accept_changes(eventsub)

    report = eventsub_reconcile()

    assert (created(eventsub), deleted(eventsub)) == (set(), [])
    assert str(report) == "created 0, deleted 0, kept 6, revoked for good 0"


@pytest.mark.django_db
def test_the_command_reconciles_and_prints_what_it_did(helix):
    out = StringIO()

    call_command("twitch_eventsub", stdout=out)

    printed = out.getvalue()
    assert printed.splitlines()[0] == "created 4, deleted 2, kept 1, revoked for good 1"
    assert f"  deleted {ORPHAN_ID}" in printed
    assert f"  created new:stream.online:{STRANGER_BROADCASTER}" in printed


@pytest.mark.django_db
def test_a_dry_run_changes_nothing_and_prints_what_it_would_do(helix):
    out = StringIO()

    call_command("twitch_eventsub", "--dry-run", stdout=out)

    assert (helix_calls(helix, "POST"), helix_calls(helix, "DELETE")) == ([], [])
    assert not EventSubSubscription.objects.exists()
    printed = out.getvalue().splitlines()
    assert printed[0] == "Would have: created 4, deleted 2, kept 1, revoked for good 1"
    assert {line for line in printed if line.startswith("  created ")} == {
        f"  created {kind}:{broadcaster}" for kind, broadcaster in EXPECTED_CREATES
    }
    assert [line for line in printed if line.startswith("  deleted ")] == [
        f"  deleted {OFFLINE_ID}",
        f"  deleted {ORPHAN_ID}",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("fail_page", [0, 1], ids=["first page", "second page"])
def test_when_twitch_is_unreachable_the_command_fails_in_one_line_having_changed_nothing(eventsub, linked, fail_page):
    page1 = [
        ours(sub, status="notification_failures_exceeded")
        for sub in load_fixture("twitch/eventsub.list.page1.json")["data"]
    ]
    serve_listing(eventsub, page1, [remote("orphan", "stream.online", UNLINKED_BROADCASTER)], fail_page=fail_page)
    accept_changes(eventsub)

    with pytest.raises(CommandError) as failure:
        call_command("twitch_eventsub", stdout=StringIO())

    message = str(failure.value)
    assert "\n" not in message
    assert message.endswith("(twitch_unavailable)")
    assert (helix_calls(eventsub, "POST"), helix_calls(eventsub, "DELETE")) == ([], [])
    assert not EventSubSubscription.objects.exists()


@pytest.mark.django_db
def test_without_a_secret_the_command_refuses_before_calling_twitch(eventsub, settings):
    settings.TWITCH_EVENTSUB_SECRET = ""

    with pytest.raises(CommandError, match=r"\(not_configured\)$"):
        call_command("twitch_eventsub", stdout=StringIO())

    assert not helix_calls(eventsub, "GET")


# --- Linking and unlinking Twitch -----------------------------------------------------------------------


@pytest.mark.django_db
def test_linking_twitch_in_clerk_queues_the_users_subscription_sync(queued, eventsub, owner):
    clerk_user_upsert(data=clerk_user(owner.clerk_id, updated_at=1_800_000_000_000))

    job = queued(SYNC_TASK).get()
    assert job.args == {"user_id": str(owner.pk)}
    assert job.queue_name == "automations"


@pytest.mark.django_db
@pytest.mark.parametrize("change", ["unlinked in Clerk", "deleted in Clerk"])
def test_unlinking_twitch_or_deleting_the_user_queues_the_sync_too(queued, eventsub, streamer, change):
    if change == "unlinked in Clerk":
        clerk_user_upsert(data=clerk_user(streamer.clerk_id, updated_at=1_800_000_000_000, twitch=None))
    else:
        clerk_user_mark_deleted(clerk_id=streamer.clerk_id)

    assert queued(SYNC_TASK).get().args == {"user_id": str(streamer.pk)}


@pytest.mark.django_db
def test_a_profile_update_that_keeps_the_same_twitch_account_queues_no_sync(queued, eventsub, streamer):
    clerk_user_upsert(data=clerk_user(streamer.clerk_id, updated_at=1_800_000_000_000))

    assert not queued(SYNC_TASK).exists()


@pytest.mark.django_db(transaction=True)
def test_the_queued_sync_subscribes_the_user_who_linked_twitch(queued, eventsub, owner, run_queued_jobs):
    serve_listing(eventsub, [])
    accept_changes(eventsub)
    clerk_user_upsert(data=clerk_user(owner.clerk_id, updated_at=1_800_000_000_000))

    run_queued_jobs(queues=["automations"])

    assert created(eventsub) == {("stream.online", BROADCASTER_ID), ("stream.offline", BROADCASTER_ID)}
    assert {row.user_id for row in EventSubSubscription.objects.all()} == {owner.pk}
    assert set(queued(SYNC_TASK).values_list("status", flat=True)) == {"succeeded"}


@pytest.fixture
def subscribed(eventsub, streamer, stranger):
    """The streamer's two live subscriptions (mirrored locally), and the stranger's, all ours on Twitch."""
    link_twitch(stranger, twitch_user_id=STRANGER_BROADCASTER, login="strangerstreams")
    subscription_row(ONLINE_ID, "stream.online", user=streamer)
    subscription_row(OFFLINE_ID, "stream.offline", user=streamer)
    serve_listing(
        eventsub,
        [ours(sub) for sub in load_fixture("twitch/eventsub.list.page1.json")["data"]],
        [remote("stranger-online", "stream.online", STRANGER_BROADCASTER)],
    )
    accept_changes(eventsub)
    return eventsub


@pytest.mark.django_db
def test_after_unlinking_the_sync_deletes_that_users_subscriptions_only(subscribed, streamer):
    clerk_user_upsert(data=clerk_user(streamer.clerk_id, updated_at=1_800_000_000_000, twitch=None))

    eventsub_sync_user(user_id=streamer.pk)

    assert sorted(deleted(subscribed)) == sorted([ONLINE_ID, OFFLINE_ID])
    assert not helix_calls(subscribed, "POST")
    assert {rows()[ONLINE_ID][3], rows()[OFFLINE_ID][3]} == {Status.DELETED}


@pytest.mark.django_db
@pytest.mark.parametrize("mirrored", [True, False], ids=["mirrored locally", "never mirrored"])
def test_after_the_user_is_deleted_the_sync_deletes_their_subscriptions(subscribed, streamer, mirrored):
    if not mirrored:
        EventSubSubscription.objects.all().delete()
    clerk_user_mark_deleted(clerk_id=streamer.clerk_id)

    eventsub_sync_user(user_id=streamer.pk)

    assert sorted(deleted(subscribed)) == sorted([ONLINE_ID, OFFLINE_ID])
    assert not helix_calls(subscribed, "POST")


@pytest.mark.django_db
def test_a_deleted_users_sync_keeps_the_subscriptions_of_whoever_links_their_broadcaster_now(subscribed, streamer):
    clerk_user_mark_deleted(clerk_id=streamer.clerk_id)
    heir = make_user("heir")
    link_twitch(heir)

    eventsub_sync_user(user_id=streamer.pk)

    assert (deleted(subscribed), helix_calls(subscribed, "POST")) == ([], [])
    assert {rows()[ONLINE_ID][2:4], rows()[OFFLINE_ID][2:4]} == {(heir.pk, Status.ENABLED)}


# --- Importing a stream's clips -------------------------------------------------------------------------


def archive_query() -> list:
    return [matchers.query_param_matcher({"user_id": BROADCASTER_ID, "type": "archive", "first": "1"})]


@pytest.fixture
def missed_start(client, eventsub, streamer) -> Stream:
    """A stream whose stream.online never came: only its stream.offline, a minute ago."""
    deliver(client, eventsub_payload("stream.offline"), timestamp=timezone.now() - timedelta(minutes=1))
    stream = Stream.objects.get()
    assert stream.started_at == stream.ended_at
    return stream


@pytest.mark.django_db
def test_the_import_of_a_stream_whose_start_was_missed_starts_when_its_archive_does(missed_start, eventsub):
    vod_start = (missed_start.ended_at - timedelta(hours=3)).replace(microsecond=0)
    eventsub.get(
        VIDEOS_URL,
        match=archive_query(),
        json=helix_archive_videos(created_at=helix_time(vod_start), duration="2h58m30s"),
    )

    import_id = stream_import(stream_id=str(missed_start.pk))

    clip_import = ClipImport.objects.get(pk=import_id)
    assert (clip_import.user, clip_import.since) == (missed_start.user, vod_start)
    assert abs(clip_import.until - timezone.now()) < timedelta(minutes=1)
    missed_start.refresh_from_db()
    assert (missed_start.started_at, missed_start.imports_queued) == (vod_start, 1)


@pytest.mark.django_db
def test_an_archive_of_an_earlier_stream_is_not_taken_for_this_ones_start(missed_start, eventsub):
    eventsub.get(VIDEOS_URL, match=archive_query(), json=helix_archive_videos())  # October's, long over

    import_id = stream_import(stream_id=str(missed_start.pk))

    assert ClipImport.objects.get(pk=import_id).since == missed_start.ended_at - timedelta(hours=24)


@pytest.mark.django_db
def test_the_import_of_a_stream_with_a_known_start_asks_twitch_nothing(eventsub, streamer):
    started = timezone.now() - timedelta(hours=2)
    stream = Stream.objects.create(user=streamer, broadcaster_user_id=BROADCASTER_ID, started_at=started)

    import_id = stream_import(stream_id=str(stream.pk))

    assert ClipImport.objects.get(pk=import_id).since == started
    assert not [call for call in eventsub.calls if call.request.url.startswith(VIDEOS_URL)]


@pytest.mark.django_db
def test_with_an_import_running_the_stream_import_queues_itself_again(queued, missed_start, eventsub):
    running = clip_import_start(user=missed_start.user, enqueue=False)
    eventsub.get(VIDEOS_URL, match=archive_query(), json={"data": [], "pagination": {}})
    queued_before = set(queued(IMPORT_TASK).values_list("id", flat=True))

    assert stream_import(stream_id=str(missed_start.pk)) is None

    assert list(ClipImport.objects.values_list("pk", flat=True)) == [running.pk]
    [retry] = queued(IMPORT_TASK).exclude(id__in=queued_before)
    assert retry.args == {"stream_id": str(missed_start.pk)}
    assert (retry.scheduled_at - timezone.now()).total_seconds() == pytest.approx(120, abs=30)
    missed_start.refresh_from_db()
    assert missed_start.imports_queued == 0


# --- Admin ----------------------------------------------------------------------------------------------

CHANGELIST = "admin:automations_eventsubsubscription_changelist"


@pytest.mark.django_db
def test_the_subscriptions_changelist_lists_them(staff_client, streamer):
    subscription_row(ONLINE_ID, "stream.online", user=streamer, status=Status.AUTHORIZATION_REVOKED)

    response = staff_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert BROADCASTER_ID in response.text
    assert "Revoked: authorization" in response.text


@pytest.mark.django_db
def test_resync_subscribes_the_selected_users_again(staff_client, eventsub, streamer):
    selected = [subscription_row(ONLINE_ID, "stream.online", user=streamer, status=Status.AUTHORIZATION_REVOKED)]
    serve_listing(eventsub, [])
    accept_changes(eventsub)

    shown = run_action_with_levels(staff_client, reverse(CHANGELIST), "resync", selected)

    assert shown == [(message_levels.SUCCESS, "Re-synced 1 users: created 2, deleted 0, kept 0, revoked for good 0.")]
    assert created(eventsub) == {("stream.online", BROADCASTER_ID), ("stream.offline", BROADCASTER_ID)}


@pytest.mark.django_db
def test_resync_reports_twitch_failing(staff_client, eventsub, streamer):
    selected = [subscription_row(ONLINE_ID, "stream.online", user=streamer)]
    eventsub.get(EVENTSUB_SUBSCRIPTIONS_URL, status=503)

    [(level, text)] = run_action_with_levels(staff_client, reverse(CHANGELIST), "resync", selected)

    assert level == message_levels.ERROR
    assert text.startswith("Re-sync failed: Twitch did not answer")


# --- Periodic tasks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("periodic_id", "cron"), [("reconcile_eventsub", "17 4 * * *"), ("import_clips_daily", "41 5 * * *")]
)
def test_the_daily_tasks_are_registered(periodic_id, cron):
    periodic = {key: task for (_, key), task in queue_app.periodic_registry.periodic_tasks.items()}

    task = periodic[periodic_id]
    assert task.cron == cron
    assert task.task.name == f"automations.tasks.{periodic_id}"
    assert task.task.queue == "automations"
    assert task.task.queueing_lock == periodic_id
