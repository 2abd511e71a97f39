"""Twitch EventSub: the Helix subscription calls and Get Videos against a fake Twitch, and the pure
signature check and parsing of webhook deliveries signed as Twitch signs them."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.http.request import HttpHeaders
from responses import matchers

from integrations.tests.fakes import (
    BROADCASTER_ID,
    EVENTSUB_CALLBACK,
    EVENTSUB_SECRET,
    EVENTSUB_SUBSCRIPTIONS_URL,
    TWITCH_API_URL,
    TWITCH_APP_TOKEN,
    TWITCH_CLIENT_ID,
    TWITCH_TOKEN_URL,
    VIDEOS_URL,
    app_token_answer,
    eventsub_delivery,
    eventsub_headers,
    eventsub_payload,
    eventsub_timestamp,
    helix_archive_videos,
    helix_eventsub_created,
    load_fixture,
)
from integrations.twitch import (
    EventSubSignatureError,
    TwitchError,
    is_valid_eventsub_secret,
    parse_eventsub_message,
    parse_twitch_duration,
    parse_twitch_timestamp,
    verify_eventsub_request,
)

helix = pytest.mark.django_db  # the app token is cached in the database

NOW = datetime(2026, 10, 3, 19, 0, 5, 250000, tzinfo=UTC)
SUBSCRIPTION_ID = "f1c2a387-161a-49f9-a165-0f21d7a4e1c4"
PAGE_2_CURSOR = load_fixture("twitch/eventsub.list.page1.json")["pagination"]["cursor"]


def helix_requests(mock) -> list:
    return [call for call in mock.calls if call.request.url.startswith(TWITCH_API_URL)]


def app_headers(token: str = TWITCH_APP_TOKEN):
    return matchers.header_matcher({"Authorization": f"Bearer {token}", "Client-Id": TWITCH_CLIENT_ID})


def query(params: dict):
    return matchers.query_param_matcher(params)


# --- Create EventSub Subscription -------------------------------------------------------------


@helix
def test_create_posts_the_webhook_subscription_with_the_app_token(twitch, twitch_client):
    twitch.post(
        EVENTSUB_SUBSCRIPTIONS_URL,
        match=[
            app_headers(),
            matchers.json_params_matcher(
                {
                    "type": "stream.offline",
                    "version": "1",
                    "condition": {"broadcaster_user_id": BROADCASTER_ID},
                    "transport": {"method": "webhook", "callback": EVENTSUB_CALLBACK, "secret": EVENTSUB_SECRET},
                }
            ),
        ],
        status=202,
        json=helix_eventsub_created(),
    )

    subscription = twitch_client.create_eventsub_subscription(
        type="stream.offline", broadcaster_user_id=BROADCASTER_ID, callback=EVENTSUB_CALLBACK, secret=EVENTSUB_SECRET
    )

    assert subscription["id"] == SUBSCRIPTION_ID
    assert subscription["status"] == "webhook_callback_verification_pending"
    assert subscription["condition"] == {"broadcaster_user_id": BROADCASTER_ID}
    assert helix_requests(twitch)[0].request.headers["Content-Type"] == "application/json"


@helix
def test_create_sends_the_version_and_any_callback_unchecked(twitch, twitch_client):
    loopback = "http://127.0.0.1:8765/webhooks/twitch/eventsub/"
    twitch.post(
        EVENTSUB_SUBSCRIPTIONS_URL,
        status=202,
        json=helix_eventsub_created(type="stream.online", version="2", transport={"method": "webhook"}),
    )

    twitch_client.create_eventsub_subscription(
        type="stream.online", broadcaster_user_id="42", callback=loopback, secret=EVENTSUB_SECRET, version="2"
    )

    sent = json.loads(helix_requests(twitch)[0].request.body)
    assert sent["version"] == "2"
    assert sent["type"] == "stream.online"
    assert sent["condition"] == {"broadcaster_user_id": "42"}
    assert sent["transport"]["callback"] == loopback


@helix
def test_an_existing_subscription_raises_conflict_without_retrying(twitch, twitch_client, sleeps):
    twitch.post(
        EVENTSUB_SUBSCRIPTIONS_URL,
        status=409,
        json={"error": "Conflict", "status": 409, "message": "subscription already exists"},
    )

    with pytest.raises(TwitchError) as error:
        twitch_client.create_eventsub_subscription(
            type="stream.offline", broadcaster_user_id=BROADCASTER_ID, callback=EVENTSUB_CALLBACK, secret="x" * 10
        )

    assert error.value.code == "conflict"
    assert error.value.status == 409
    assert "already exists" in str(error.value)
    assert len(helix_requests(twitch)) == 1
    assert sleeps == []


@helix
def test_a_refused_subscription_is_a_bad_request(twitch, twitch_client):
    twitch.post(
        EVENTSUB_SUBSCRIPTIONS_URL,
        status=400,
        json={"error": "Bad Request", "status": 400, "message": "invalid transport and auth combination"},
    )

    with pytest.raises(TwitchError) as error:
        twitch_client.create_eventsub_subscription(
            type="stream.offline", broadcaster_user_id=BROADCASTER_ID, callback=EVENTSUB_CALLBACK, secret="short"
        )

    assert error.value.code == "bad_request"


@helix
def test_a_rejected_app_token_is_renewed_and_the_same_subscription_sent_again(twitch, twitch_client):
    twitch.post(TWITCH_TOKEN_URL, json=app_token_answer("app-token-2"))
    twitch.post(EVENTSUB_SUBSCRIPTIONS_URL, match=[app_headers("app-token-1")], status=401, json={"status": 401})
    twitch.post(
        EVENTSUB_SUBSCRIPTIONS_URL, match=[app_headers("app-token-2")], status=202, json=helix_eventsub_created()
    )

    twitch_client.create_eventsub_subscription(
        type="stream.offline", broadcaster_user_id=BROADCASTER_ID, callback=EVENTSUB_CALLBACK, secret=EVENTSUB_SECRET
    )

    first, second = (json.loads(call.request.body) for call in helix_requests(twitch))
    assert first == second
    assert second["transport"]["secret"] == EVENTSUB_SECRET


# --- Get EventSub Subscriptions --------------------------------------------------------------


@helix
def test_the_list_follows_the_cursor_and_keeps_the_filter(twitch, twitch_client):
    twitch.get(
        EVENTSUB_SUBSCRIPTIONS_URL,
        match=[app_headers(), query({"status": "enabled"})],
        json=load_fixture("twitch/eventsub.list.page1.json"),
    )
    twitch.get(
        EVENTSUB_SUBSCRIPTIONS_URL,
        match=[app_headers(), query({"status": "enabled", "after": PAGE_2_CURSOR})],
        json=load_fixture("twitch/eventsub.list.page2.json"),
    )

    subscriptions = list(twitch_client.iter_eventsub_subscriptions(status="enabled"))

    assert [subscription["id"] for subscription in subscriptions] == [
        "26b1c993-bfcf-44d9-b876-379dacafe75a",
        SUBSCRIPTION_ID,
        "35016908-41ff-33ce-7879-61b8dfc2ee16",
    ]
    assert len(helix_requests(twitch)) == 2


@helix
def test_the_list_filters_by_type(twitch, twitch_client):
    twitch.get(
        EVENTSUB_SUBSCRIPTIONS_URL,
        match=[query({"type": "stream.online"})],
        json=load_fixture("twitch/eventsub.list.page2.json"),
    )

    subscriptions = list(twitch_client.iter_eventsub_subscriptions(type="stream.online"))

    assert [subscription["status"] for subscription in subscriptions] == ["authorization_revoked"]


@helix
def test_the_unfiltered_list_sends_no_filter(twitch, twitch_client):
    twitch.get(EVENTSUB_SUBSCRIPTIONS_URL, match=[query({})], json={"total": 0, "data": [], "pagination": {}})

    assert list(twitch_client.iter_eventsub_subscriptions()) == []
    assert len(helix_requests(twitch)) == 1


@helix
def test_the_list_is_lazy_and_stops_on_a_repeated_cursor(twitch, twitch_client):
    page = {"data": [{"id": "sub-1"}], "pagination": {"cursor": "same-cursor"}}
    twitch.get(EVENTSUB_SUBSCRIPTIONS_URL, json=page)

    subscriptions = twitch_client.iter_eventsub_subscriptions()
    assert helix_requests(twitch) == []

    assert [subscription["id"] for subscription in subscriptions] == ["sub-1", "sub-1"]
    assert len(helix_requests(twitch)) == 2


def test_the_list_refuses_two_filters_at_once_without_asking_twitch(mocked_http, twitch_client):
    with pytest.raises(ValueError, match="not both"):
        twitch_client.iter_eventsub_subscriptions(status="enabled", type="stream.online")

    assert len(mocked_http.calls) == 0


# --- Delete EventSub Subscription ------------------------------------------------------------


@helix
def test_delete_sends_the_subscription_id(twitch, twitch_client):
    twitch.delete(EVENTSUB_SUBSCRIPTIONS_URL, match=[app_headers(), query({"id": SUBSCRIPTION_ID})], status=204)

    assert twitch_client.delete_eventsub_subscription(subscription_id=SUBSCRIPTION_ID) is None

    assert len(helix_requests(twitch)) == 1
    assert helix_requests(twitch)[0].request.method == "DELETE"


@helix
def test_deleting_a_subscription_already_gone_is_fine(twitch, twitch_client):
    twitch.delete(
        EVENTSUB_SUBSCRIPTIONS_URL,
        status=404,
        json={"error": "Not Found", "status": 404, "message": "subscription not found"},
    )

    twitch_client.delete_eventsub_subscription(subscription_id=SUBSCRIPTION_ID)

    assert len(helix_requests(twitch)) == 1


@helix
def test_a_refused_delete_still_raises(twitch, twitch_client):
    twitch.delete(EVENTSUB_SUBSCRIPTIONS_URL, status=403, json={"status": 403, "message": "not yours"})

    with pytest.raises(TwitchError) as error:
        twitch_client.delete_eventsub_subscription(subscription_id=SUBSCRIPTION_ID)

    assert error.value.code == "forbidden"


# --- Get Videos (past broadcasts) -------------------------------------------------------------


@helix
def test_archive_videos_ask_for_the_broadcasters_latest_past_broadcasts(twitch, twitch_client):
    twitch.get(
        VIDEOS_URL,
        match=[app_headers(), query({"user_id": BROADCASTER_ID, "type": "archive", "first": "5"})],
        json=helix_archive_videos(),
    )

    videos = twitch_client.get_archive_videos(broadcaster_id=BROADCASTER_ID)

    assert [video["id"] for video in videos] == ["2270864590", "2268193377"]
    assert {video["type"] for video in videos} == {"archive"}
    assert videos[0]["stream_id"] == eventsub_payload("stream.online")["event"]["id"]
    assert parse_twitch_duration(videos[0]["duration"]) == timedelta(hours=3, minutes=8, seconds=33)
    assert parse_twitch_timestamp(videos[0]["created_at"]) == datetime(2026, 10, 3, 19, 0, 10, tzinfo=UTC)


@helix
def test_archive_videos_pass_first_and_tolerate_no_data(twitch, twitch_client):
    twitch.get(
        VIDEOS_URL,
        match=[query({"user_id": "42", "type": "archive", "first": "20"})],
        json={"data": [], "pagination": {}},
    )

    assert twitch_client.get_archive_videos(broadcaster_id="42", first=20) == []


# --- Signature verification -------------------------------------------------------------------


def signed(kind: str = "stream.offline", *, at: datetime | str = NOW, secret: str = EVENTSUB_SECRET, **options):
    return eventsub_delivery(eventsub_payload(kind), secret=secret, timestamp=at, **options)


def refusal(headers, body, *, secret=EVENTSUB_SECRET, now=NOW, **options) -> str:
    with pytest.raises(EventSubSignatureError) as error:
        verify_eventsub_request(headers=headers, body=body, secret=secret, now=now, **options)
    return error.value.code


def test_a_delivery_signed_with_our_secret_is_accepted():
    body, headers = signed()

    verify_eventsub_request(headers=headers, body=body, secret=EVENTSUB_SECRET, now=NOW)


def test_a_tampered_body_is_refused():
    body, headers = signed()
    tampered = body.replace(b'"123456"', b'"999999"')
    assert tampered != body

    assert refusal(headers, tampered) == "bad_signature"


def test_a_delivery_signed_with_another_secret_is_refused():
    body, headers = signed(secret="someone-elses-secret")

    assert refusal(headers, body) == "bad_signature"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Twitch-Eventsub-Message-Id", "another-message-id"),
        ("Twitch-Eventsub-Message-Timestamp", eventsub_timestamp(NOW + timedelta(seconds=1))),
    ],
)
def test_a_changed_signed_header_is_refused(header, value):
    body, headers = signed()
    assert headers[header] != value
    headers[header] = value

    assert refusal(headers, body) == "bad_signature"


def test_a_garbled_signature_is_refused():
    body, headers = signed()

    assert refusal({**headers, "Twitch-Eventsub-Message-Signature": "sha256=nothex\u00e9"}, body) == "bad_signature"
    signature = headers["Twitch-Eventsub-Message-Signature"].removeprefix("sha256=")
    assert refusal({**headers, "Twitch-Eventsub-Message-Signature": signature}, body) == "bad_signature"


@pytest.mark.parametrize(
    ("sent", "accepted"),
    [
        (NOW - timedelta(minutes=11), False),
        (NOW - timedelta(minutes=9), True),
        (NOW + timedelta(minutes=9), True),
        (NOW + timedelta(minutes=11), False),
    ],
    ids=["11-min-old", "9-min-old", "9-min-ahead", "11-min-ahead"],
)
def test_only_a_timestamp_within_ten_minutes_of_now_is_accepted(sent, accepted):
    body, headers = signed(at=sent)

    if accepted:
        verify_eventsub_request(headers=headers, body=body, secret=EVENTSUB_SECRET, now=NOW)
    else:
        assert refusal(headers, body) == "stale_timestamp"


def test_the_maximum_age_can_be_tightened():
    body, headers = signed(at=NOW - timedelta(minutes=2))

    assert refusal(headers, body, max_age=timedelta(minutes=1)) == "stale_timestamp"


def test_now_defaults_to_the_current_time():
    body, headers = signed(at=datetime.now(UTC))
    verify_eventsub_request(headers=headers, body=body, secret=EVENTSUB_SECRET)

    body, headers = signed(at=datetime.now(UTC) - timedelta(minutes=11))
    with pytest.raises(EventSubSignatureError):
        verify_eventsub_request(headers=headers, body=body, secret=EVENTSUB_SECRET)


@pytest.mark.parametrize(
    "header",
    ["Twitch-Eventsub-Message-Id", "Twitch-Eventsub-Message-Timestamp", "Twitch-Eventsub-Message-Signature"],
)
def test_a_delivery_without_a_signed_header_is_refused(header):
    body, headers = signed()

    assert refusal({name: value for name, value in headers.items() if name != header}, body) == "missing_headers"
    assert refusal({**headers, header: ""}, body) == "missing_headers"


def test_a_plain_request_without_any_eventsub_header_is_refused():
    assert refusal({"Content-Type": "application/json"}, b"{}") == "missing_headers"


def test_nanosecond_timestamps_are_read():
    body, headers = signed(at="2026-10-03T19:00:04.634234626Z")

    verify_eventsub_request(headers=headers, body=body, secret=EVENTSUB_SECRET, now=NOW)
    assert parse_twitch_timestamp("2026-10-03T19:00:04.634234626Z") == datetime(
        2026, 10, 3, 19, 0, 4, 634234, tzinfo=UTC
    )


def test_a_signed_but_unreadable_timestamp_is_refused():
    body, headers = signed(at="yesterday at noon")

    assert refusal(headers, body) == "malformed_timestamp"


def test_header_names_are_matched_whatever_their_case():
    body, headers = signed()

    verify_eventsub_request(
        headers={name.lower(): value for name, value in headers.items()}, body=body, secret=EVENTSUB_SECRET, now=NOW
    )
    verify_eventsub_request(
        headers={name.upper(): value for name, value in headers.items()}, body=body, secret=EVENTSUB_SECRET, now=NOW
    )


def test_djangos_request_headers_are_accepted():
    body, headers = signed()
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    django_headers = HttpHeaders(meta)

    verify_eventsub_request(headers=django_headers, body=body, secret=EVENTSUB_SECRET, now=NOW)
    assert parse_eventsub_message(headers=django_headers, body=body).message_type == "notification"


# --- Parsing ----------------------------------------------------------------------------------


def test_a_stream_online_notification_is_parsed():
    body, headers = signed("stream.online", message_id="msg-online-1")

    message = parse_eventsub_message(headers=headers, body=body)

    assert message.message_id == "msg-online-1"
    assert message.message_type == "notification"
    assert message.subscription_type == "stream.online"
    assert message.subscription["id"] == "26b1c993-bfcf-44d9-b876-379dacafe75a"
    assert message.event["id"] == "40532137861"
    assert message.event["type"] == "live"
    assert message.event["broadcaster_user_id"] == BROADCASTER_ID
    assert parse_twitch_timestamp(message.event["started_at"]) == datetime(2026, 10, 3, 19, 0, 4, tzinfo=UTC)
    assert message.challenge is None
    assert message.timestamp == datetime(2026, 10, 3, 19, 0, 5, 250000, tzinfo=UTC)


def test_a_stream_offline_notification_is_parsed():
    body, headers = signed("stream.offline")

    message = parse_eventsub_message(headers=headers, body=body)

    assert message.message_type == "notification"
    assert message.subscription_type == "stream.offline"
    assert message.event == {
        "broadcaster_user_id": BROADCASTER_ID,
        "broadcaster_user_login": "ownerstreams",
        "broadcaster_user_name": "OwnerStreams",
    }


def test_a_callback_verification_carries_its_challenge():
    body, headers = signed("verification")
    assert headers["Twitch-Eventsub-Message-Type"] == "webhook_callback_verification"

    message = parse_eventsub_message(headers=headers, body=body)

    assert message.message_type == "webhook_callback_verification"
    assert message.challenge == "pogchamp-kappa-360noscope-vohiyo"
    assert message.subscription["status"] == "webhook_callback_verification_pending"
    assert message.subscription_type == "stream.offline"
    assert message.event == {}


def test_a_revocation_carries_the_reason_in_the_subscription_status():
    body, headers = signed("revocation")

    message = parse_eventsub_message(headers=headers, body=body)

    assert message.message_type == "revocation"
    assert message.subscription["status"] == "authorization_revoked"
    assert message.subscription_type == "stream.online"
    assert message.event == {}
    assert message.challenge is None


@pytest.mark.parametrize(
    ("kind", "claimed_type"),
    [
        ("stream.offline", "webhook_callback_verification"),  # a notification passed off as a verification
        ("stream.offline", "revocation"),
        ("verification", "notification"),
        ("verification", "revocation"),
        ("revocation", "notification"),
        ("revocation", "webhook_callback_verification"),
    ],
)
def test_the_unsigned_message_type_header_must_agree_with_the_signed_body(kind, claimed_type):
    body, headers = signed(kind, message_type=claimed_type)

    with pytest.raises(ValueError, match="EventSub"):
        parse_eventsub_message(headers=headers, body=body)


def test_the_unsigned_subscription_type_header_must_agree_with_the_signed_body():
    body, headers = signed("stream.offline", subscription_type="stream.online")

    with pytest.raises(ValueError, match="disagrees"):
        parse_eventsub_message(headers=headers, body=body)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"{}",
        b'{"subscription": "stream.offline", "event": {}}',
        b'{"subscription": {"type": "stream.offline"}, "event": {}}',
        b'{"subscription": {"id": "x", "type": "stream.offline"}, "event": "offline"}',
    ],
    ids=["not-json", "not-utf8", "array", "empty", "subscription-not-object", "no-subscription-id", "event-not-object"],
)
def test_a_malformed_body_is_a_value_error(body):
    headers = eventsub_headers(body, secret=EVENTSUB_SECRET, timestamp=NOW)

    with pytest.raises(ValueError):  # noqa: PT011 (every shape problem is a plain ValueError)
        parse_eventsub_message(headers=headers, body=body)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Twitch-Eventsub-Message-Type", None),
        ("Twitch-Eventsub-Message-Type", "subscription.ping"),
        ("Twitch-Eventsub-Message-Id", None),
        ("Twitch-Eventsub-Message-Timestamp", "2026-10-03"),
    ],
)
def test_missing_or_unknown_headers_are_a_value_error(header, value):
    body, headers = signed()
    headers = {name: text for name, text in headers.items() if name != header}
    if value is not None:
        headers[header] = value

    with pytest.raises(ValueError):  # noqa: PT011
        parse_eventsub_message(headers=headers, body=body)


# --- Secrets, timestamps and durations ---------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "valid"),
    [
        (EVENTSUB_SECRET, True),
        ("a" * 10, True),
        ("a" * 100, True),
        ("a" * 9, False),
        ("a" * 101, False),
        ("", False),
        ("geheimnis-\u00fcber-10", False),
    ],
    ids=["test-secret", "10", "100", "9", "101", "empty", "non-ascii"],
)
def test_an_eventsub_secret_is_10_to_100_ascii_characters(secret, valid):
    assert is_valid_eventsub_secret(secret) is valid


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-10-03T19:00:04Z", datetime(2026, 10, 3, 19, 0, 4, tzinfo=UTC)),
        ("2026-10-03T19:00:04.5Z", datetime(2026, 10, 3, 19, 0, 4, 500000, tzinfo=UTC)),
        ("2026-09-20T20:08:33.12345678Z", datetime(2026, 9, 20, 20, 8, 33, 123456, tzinfo=UTC)),
        ("2026-10-03T21:00:04.634234626+02:00", datetime(2026, 10, 3, 19, 0, 4, 634234, tzinfo=UTC)),
    ],
)
def test_twitch_timestamps_are_read_as_utc(text, moment):
    parsed = parse_twitch_timestamp(text)

    assert parsed == moment
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["", "2026-10-03", "2026-10-03T19:00:04", "2026-10-03T19:00Z", "soon"])
def test_other_timestamps_are_a_value_error(text):
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_twitch_timestamp(text)


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("3h8m33s", timedelta(hours=3, minutes=8, seconds=33)),
        ("3m21s", timedelta(minutes=3, seconds=21)),
        ("45s", timedelta(seconds=45)),
        ("10h0m0s", timedelta(hours=10)),
    ],
)
def test_video_durations_are_read(text, length):
    assert parse_twitch_duration(text) == length


@pytest.mark.parametrize("text", ["", "3x", "1h2", "h", "3:08:33"])
def test_other_durations_are_a_value_error(text):
    with pytest.raises(ValueError, match="duration"):
        parse_twitch_duration(text)
