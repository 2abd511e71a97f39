"""Twitch EventSub: our subscriptions to stream.online/offline, and the messages Twitch sends us.

Twitch's list is the truth; `EventSubSubscription` rows mirror it for staff and for the webhook.
Only subscriptions whose callback is ours are touched: another environment may share the app.
"""

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import TwitchAccount, User, WebhookDelivery
from automations.models import EventSubSubscription
from automations.streams import stream_ended, stream_started
from core.errors import Unavailable
from integrations.twitch import TwitchClient, TwitchError
from integrations.twitch.eventsub import NOTIFICATION, REVOCATION, VERIFICATION, EventSubMessage

logger = logging.getLogger(__name__)

Status = EventSubSubscription.Status
EVENT_TYPES = ("stream.online", "stream.offline")
LIVE_STATUSES = {Status.ENABLED, Status.PENDING}
# Revocations a new subscription can cure: our endpoint failing, or an authorization a new
# subscription asks for again. A removed user or version cannot be subscribed to again.
REVIVABLE = {Status.NOTIFICATION_FAILURES, Status.VERIFICATION_FAILED, Status.AUTHORIZATION_REVOKED}


def eventsub_callback_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}/webhooks/twitch/"


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    not_revivable: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"created {len(self.created)}, deleted {len(self.deleted)}, kept {len(self.kept)}, "
            f"revoked for good {len(self.not_revivable)}"
        )


def eventsub_reconcile(
    *, dry_run: bool = False, user_ids: list | None = None, client: TwitchClient | None = None
) -> SyncReport:
    """Make Twitch's subscriptions match the linked users: create what is missing, delete orphans,
    re-create revoked ones where the reason allows. `user_ids`: only these users' broadcasters."""
    _require_secret()
    try:
        return _reconcile(dry_run=dry_run, user_ids=user_ids, client=client or TwitchClient())
    except TwitchError as exc:
        raise Unavailable(f"Twitch did not answer the reconciliation: {exc}", code="twitch_unavailable") from exc


def _reconcile(*, dry_run: bool, user_ids: list | None, client: TwitchClient) -> SyncReport:
    # For some users: every broadcaster they link or were subscribed for, and whoever links it now (another
    # linked user may stream on one of these broadcasters: theirs are wanted too, not orphans).
    watched = _broadcasters_of(user_ids) if user_ids is not None else None
    wanted = _wanted_subscriptions(broadcasters=watched)
    # The whole list first: nothing changes when Twitch fails half-way, nor while its pages are walked.
    remotes = list(client.iter_eventsub_subscriptions())
    report = SyncReport()
    seen: set[tuple[str, str]] = set()
    for remote in remotes:
        if (remote.get("transport") or {}).get("callback") != eventsub_callback_url():
            continue
        key = (remote.get("type", ""), str((remote.get("condition") or {}).get("broadcaster_user_id", "")))
        if watched is not None and key[1] not in watched:
            continue
        status = remote.get("status", "")
        if key not in wanted or key in seen:
            report.deleted.append(remote["id"])  # an orphan, or a duplicate
            if not dry_run:
                _delete(client, remote, user=None)
            continue
        if status in LIVE_STATUSES:
            seen.add(key)
            report.kept.append(remote["id"])
            if not dry_run:
                _mirror(remote, user=wanted[key], status=status)
            continue
        if status not in REVIVABLE:
            seen.add(key)  # revoked for good: re-creating would only be refused again
            report.not_revivable.append(remote["id"])
            if not dry_run:
                _mirror(remote, user=wanted[key], status=status, revocation_reason=status)
            continue
        report.deleted.append(remote["id"])
        if not dry_run:
            _delete(client, remote, user=wanted[key], revocation_reason=status)
    for key, user in wanted.items():
        if key in seen:
            continue
        if dry_run:
            report.created.append(f"{key[0]}:{key[1]}")
            continue
        created = _create(client, type=key[0], broadcaster_user_id=key[1])
        if created is not None:
            _mirror(created, user=user, status=created.get("status", Status.PENDING))
            report.created.append(created["id"])
    return report


def eventsub_sync_user(*, user_id, client: TwitchClient | None = None) -> SyncReport:
    """Subscribe a user who linked Twitch; unsubscribe one who unlinked it or was deleted."""
    return eventsub_reconcile(user_ids=[user_id], client=client)


def _wanted_subscriptions(*, broadcasters: set[str] | None) -> dict[tuple[str, str], User]:
    """The subscriptions the active linked users need (of `broadcasters` only, when given), and their user."""
    accounts = TwitchAccount.objects.filter(user__is_active=True, user__deleted_at__isnull=True).select_related("user")
    if broadcasters is not None:
        accounts = accounts.filter(twitch_user_id__in=broadcasters)
    # Oldest link first: if two users linked one broadcaster, the latest owns its subscriptions (as its streams).
    accounts = accounts.order_by("linked_at")
    return {(kind, account.twitch_user_id): account.user for account in accounts for kind in EVENT_TYPES}


def _broadcasters_of(user_ids: list) -> set[str]:
    """The broadcasters the given users were subscribed for or linked, linked or not any more (to unsubscribe
    them): a user deleted in Clerk keeps their TwitchAccount row, an unlinked one keeps their subscription rows."""
    rows = EventSubSubscription.objects.filter(user_id__in=user_ids).values_list("broadcaster_user_id", flat=True)
    linked = TwitchAccount.objects.filter(user_id__in=user_ids).values_list("twitch_user_id", flat=True)
    return set(rows) | set(linked)


def _delete(client: TwitchClient, remote: dict, *, user: User | None, revocation_reason: str = "") -> None:
    client.delete_eventsub_subscription(subscription_id=remote["id"])
    _mirror(remote, user=user, status=Status.DELETED, revocation_reason=revocation_reason)


def _create(client: TwitchClient, *, type: str, broadcaster_user_id: str) -> dict | None:
    try:
        return client.create_eventsub_subscription(
            type=type,
            broadcaster_user_id=broadcaster_user_id,
            callback=eventsub_callback_url(),
            secret=settings.TWITCH_EVENTSUB_SECRET,
        )
    except TwitchError as exc:
        if exc.code == "conflict":
            return None  # made by a concurrent sync (or a retried create): the next list shows it
        raise


def _mirror(remote: dict, *, user: User | None, status: str, revocation_reason: str = "") -> None:
    defaults = {
        "type": remote.get("type", ""),
        "broadcaster_user_id": str((remote.get("condition") or {}).get("broadcaster_user_id", "")),
        "status": status,
    }
    if user is not None:
        defaults["user"] = user
    if revocation_reason:
        defaults["revocation_reason"] = revocation_reason
    EventSubSubscription.objects.update_or_create(twitch_subscription_id=remote["id"], defaults=defaults)


def _require_secret() -> None:
    if not settings.TWITCH_EVENTSUB_SECRET:
        raise Unavailable("TWITCH_EVENTSUB_SECRET is not set: stream notifications are off.", code="not_configured")


# --- Messages -----------------------------------------------------------------------------------


def eventsub_message_apply(*, message: EventSubMessage) -> str:
    """Apply a verified message once per message id. Returns the outcome (for logs and tests)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                WebhookDelivery.objects.create(
                    source=WebhookDelivery.Source.TWITCH,
                    delivery_id=message.message_id[:128],
                    event_type=(message.subscription_type or message.message_type)[:64],
                    outcome=WebhookDelivery.Outcome.APPLIED,
                    payload={"subscription": message.subscription, "event": message.event},
                )
        except IntegrityError:
            return "duplicate"
        subscription_id = str(message.subscription.get("id", ""))
        rows = EventSubSubscription.objects.filter(twitch_subscription_id=subscription_id)
        if message.message_type == VERIFICATION:
            rows.filter(status=Status.PENDING).update(status=Status.ENABLED)  # a late one revives nothing
            return "verified"
        if message.message_type == REVOCATION:
            reason = str(message.subscription.get("status", ""))[:64]
            rows.update(
                status=reason if reason in Status.values else Status.AUTHORIZATION_REVOKED, revocation_reason=reason
            )
            logger.warning("Twitch revoked EventSub subscription %s: %s", subscription_id, reason)
            return "revoked"
        assert message.message_type == NOTIFICATION
        rows.update(last_notification_at=timezone.now())
        return _apply_notification(message)


def _apply_notification(message: EventSubMessage) -> str:
    event = message.event
    broadcaster = str(event.get("broadcaster_user_id", ""))
    stream = None
    if message.subscription_type == "stream.online":
        stream = stream_started(broadcaster_user_id=broadcaster, event=event)
    elif message.subscription_type == "stream.offline":
        stream = stream_ended(broadcaster_user_id=broadcaster, ended_at=message.timestamp)
    if stream is None:
        # A type we do not handle, or a broadcaster nobody links any more (an orphan the daily sync deletes).
        WebhookDelivery.objects.filter(
            source=WebhookDelivery.Source.TWITCH, delivery_id=message.message_id[:128]
        ).update(outcome=WebhookDelivery.Outcome.IGNORED)
        return "ignored"
    return "stream_started" if message.subscription_type == "stream.online" else "stream_ended"
