"""Twitch EventSub over webhooks: verify a delivery's signature, then parse it. Pure: no models, no settings.

Twitch signs `message id + timestamp + raw body` with HMAC-SHA256 and the subscription's secret and sends
`sha256=<hex>` in `Twitch-Eventsub-Message-Signature`. The message type and subscription type headers are
not signed, so `parse_eventsub_message` checks them against the (signed) body.
"""

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MESSAGE_ID = "Twitch-Eventsub-Message-Id"
MESSAGE_TIMESTAMP = "Twitch-Eventsub-Message-Timestamp"
MESSAGE_SIGNATURE = "Twitch-Eventsub-Message-Signature"
MESSAGE_TYPE = "Twitch-Eventsub-Message-Type"
SUBSCRIPTION_TYPE = "Twitch-Eventsub-Subscription-Type"

NOTIFICATION = "notification"
VERIFICATION = "webhook_callback_verification"
REVOCATION = "revocation"
MESSAGE_TYPES = (NOTIFICATION, VERIFICATION, REVOCATION)

SECRET_MIN_LENGTH = 10
SECRET_MAX_LENGTH = 100

# RFC 3339 as Twitch writes it: up to nanoseconds, "Z" or an offset.
_RFC3339 = re.compile(
    r"(?P<base>\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d+))?(?P<zone>[Zz]|[+-]\d{2}:\d{2})"
)
# A video's length as Helix writes it: "3h8m33s", "12m4s", "59s".
_DURATION = re.compile(r"(?:(?P<hours>\d+)h)?(?:(?P<minutes>\d+)m)?(?:(?P<seconds>\d+)s)?")


class EventSubSignatureError(Exception):
    """A delivery that cannot be shown to come from Twitch. `code` is one of: missing_headers, bad_signature,
    stale_timestamp, malformed_timestamp."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class EventSubMessage:
    message_id: str
    message_type: str  # notification | webhook_callback_verification | revocation
    timestamp: datetime
    subscription: dict
    subscription_type: str
    event: dict  # {} unless a notification
    challenge: str | None  # only for webhook_callback_verification


def is_valid_eventsub_secret(secret: str) -> bool:
    """Twitch's rule for a webhook secret: an ASCII string of 10 to 100 characters."""
    return isinstance(secret, str) and SECRET_MIN_LENGTH <= len(secret) <= SECRET_MAX_LENGTH and secret.isascii()


def eventsub_signature(*, message_id: str, timestamp: str, body: bytes, secret: str) -> str:
    """The `Twitch-Eventsub-Message-Signature` value Twitch sends for this message."""
    digest = hmac.new(secret.encode(), message_id.encode() + timestamp.encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_eventsub_request(
    *,
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    now: datetime | None = None,
    max_age: timedelta = timedelta(minutes=10),
) -> None:
    """Raise EventSubSignatureError unless Twitch signed this delivery with `secret` within `max_age` of `now`.

    `headers` may be any mapping (Django's `request.headers`, a dict); names are matched case-insensitively.
    A timestamp more than `max_age` in the future is refused too. Replays inside the window are the caller's
    to drop, by message id.
    """
    found = _lower_keys(headers)
    message_id = found.get(MESSAGE_ID.lower())
    timestamp = found.get(MESSAGE_TIMESTAMP.lower())
    signature = found.get(MESSAGE_SIGNATURE.lower())
    missing = [name for name, value in _signed_headers(message_id, timestamp, signature) if not value]
    if missing:
        raise EventSubSignatureError(f"Missing EventSub headers: {', '.join(missing)}.", code="missing_headers")

    expected = eventsub_signature(message_id=message_id, timestamp=timestamp, body=body, secret=secret)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace")):
        raise EventSubSignatureError("The EventSub signature does not match.", code="bad_signature")

    try:
        sent_at = parse_twitch_timestamp(timestamp)
    except ValueError as exc:
        raise EventSubSignatureError(
            f"Unreadable EventSub timestamp: {timestamp[:64]!r}.", code="malformed_timestamp"
        ) from exc
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if abs(now - sent_at) > max_age:
        raise EventSubSignatureError(
            f"EventSub timestamp {timestamp} is more than {max_age} away from now.", code="stale_timestamp"
        )


def parse_eventsub_message(*, headers: Mapping[str, str], body: bytes) -> EventSubMessage:
    """The delivery, once verified. ValueError when its headers or JSON are not an EventSub message's.

    The message type header must agree with the body: a notification carries `event`, a verification
    `challenge`, a revocation neither. The subscription type comes from the signed body.
    """
    found = _lower_keys(headers)
    message_id = found.get(MESSAGE_ID.lower())
    message_type = found.get(MESSAGE_TYPE.lower())
    timestamp = found.get(MESSAGE_TIMESTAMP.lower())
    if not (message_id and message_type and timestamp):
        raise ValueError("EventSub message id, type or timestamp header missing.")
    if message_type not in MESSAGE_TYPES:
        raise ValueError(f"Unknown EventSub message type {message_type[:64]!r}.")
    sent_at = parse_twitch_timestamp(timestamp)

    payload = json.loads(body)  # JSONDecodeError and UnicodeDecodeError are ValueErrors
    if not isinstance(payload, dict):
        raise ValueError("An EventSub body is a JSON object.")
    subscription = payload.get("subscription")
    if not isinstance(subscription, dict):
        raise ValueError("An EventSub body has a subscription object.")
    subscription_type = subscription.get("type")
    if not (isinstance(subscription.get("id"), str) and subscription["id"] and isinstance(subscription_type, str)):
        raise ValueError("An EventSub subscription has a string id and type.")
    header_type = found.get(SUBSCRIPTION_TYPE.lower())
    if header_type and header_type != subscription_type:
        raise ValueError(f"Subscription type header {header_type!r} disagrees with the body's {subscription_type!r}.")

    event = payload.get("event")
    challenge = payload.get("challenge")
    if message_type == NOTIFICATION and not isinstance(event, dict):
        raise ValueError("An EventSub notification has an event object.")
    if message_type == VERIFICATION and not (isinstance(challenge, str) and challenge):
        raise ValueError("An EventSub verification has a challenge string.")
    if message_type != VERIFICATION and challenge is not None:
        raise ValueError("Only an EventSub verification has a challenge.")
    if message_type != NOTIFICATION and event is not None:
        raise ValueError("Only an EventSub notification has an event.")

    return EventSubMessage(
        message_id=message_id,
        message_type=message_type,
        timestamp=sent_at,
        subscription=subscription,
        subscription_type=subscription_type,
        event=event if message_type == NOTIFICATION else {},
        challenge=challenge if message_type == VERIFICATION else None,
    )


def parse_twitch_timestamp(value: str) -> datetime:
    """An aware datetime from Twitch's RFC 3339 (e.g. 2023-07-19T14:56:51.634234626Z: nanoseconds are cut to
    microseconds). ValueError for anything else, including a date without time or offset."""
    match = _RFC3339.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"Not an RFC 3339 timestamp: {str(value)[:64]!r}")
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    zone = "+00:00" if match["zone"].upper() == "Z" else match["zone"]
    return datetime.fromisoformat(f"{match['base'].upper()}.{fraction}{zone}").astimezone(UTC)


def parse_twitch_duration(value: str) -> timedelta:
    """A Helix video duration ("3h8m33s", "3m21s", "45s") as a timedelta. ValueError for anything else."""
    match = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match or not any(match.groupdict().values()):
        raise ValueError(f"Not a Twitch duration: {str(value)[:64]!r}")
    hours, minutes, seconds = (int(match[part] or 0) for part in ("hours", "minutes", "seconds"))
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(name).lower(): value for name, value in headers.items()}


def _signed_headers(message_id, timestamp, signature) -> list[tuple[str, str | None]]:
    return [(MESSAGE_ID, message_id), (MESSAGE_TIMESTAMP, timestamp), (MESSAGE_SIGNATURE, signature)]
