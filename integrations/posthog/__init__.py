"""PostHog: server-side events and feature flags. Never slows or breaks the caller.

One client per process, configured in `IntegrationsConfig.ready()`. Without
POSTHOG_PROJECT_API_KEY it is disabled and makes no network call at all; flags then
come from FEATURE_FLAG_DEFAULTS.

Nothing on a request or a job waits on PostHog: `capture` only queues the event for the
SDK's background thread, local flag evaluation uses definitions loaded in the background,
and remote evaluation gives up after POSTHOG_FLAGS_TIMEOUT_SECONDS without retrying. The
only other wait is the flush as the process exits, bounded by FLUSH_TIMEOUT_SECONDS.
"""

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from posthog import Posthog

from core.shutdown import register_shutdown_hook

logger = logging.getLogger(__name__)

# While PostHog is down events pile up in the SDK's queue: past this many, new ones are dropped
# (and logged) rather than growing the process's memory without limit.
MAX_QUEUED_EVENTS = 10_000

_client: Posthog | None = None
_definitions_loader: threading.Thread | None = None


def configure() -> Posthog:
    """(Re)create the process's client from settings. Called at start-up, and by tests."""
    global _client
    if _client is not None:
        _safely(_client.shutdown)
    key = settings.POSTHOG_PROJECT_API_KEY
    _client = Posthog(
        key or "disabled",
        host=settings.POSTHOG_HOST,
        disabled=not key,
        sync_mode=settings.POSTHOG_SYNC_MODE,
        secret_key=settings.POSTHOG_SECRET_KEY or None,
        timeout=settings.POSTHOG_TIMEOUT_SECONDS,
        max_queue_size=MAX_QUEUED_EVENTS,
        feature_flags_request_timeout_seconds=settings.POSTHOG_FLAGS_TIMEOUT_SECONDS,
        feature_flags_request_max_retries=0,
        max_retries=2,
        on_error=_log_error,
    )
    register_shutdown_hook(flush)
    if key and settings.POSTHOG_SECRET_KEY:
        # Load definitions (and start the poller) off the request path; until then flags use defaults.
        global _definitions_loader
        _definitions_loader = threading.Thread(target=_safely, args=(_client.load_feature_flags,), daemon=True)
        _definitions_loader.start()
    return _client


def client() -> Posthog:
    return _client if _client is not None else configure()


def is_enabled() -> bool:
    return bool(settings.POSTHOG_PROJECT_API_KEY)


def capture(event: str, *, distinct_id: str | None, properties: dict[str, Any] | None = None) -> None:
    """Queue an event for `distinct_id` (the Clerk user id). Silently skipped for users without one."""
    if not distinct_id or not is_enabled():
        return
    _safely(client().capture, event, distinct_id=distinct_id, properties=properties or {})


def set_person(*, distinct_id: str | None, properties: dict[str, Any]) -> None:
    if not distinct_id or not is_enabled():
        return
    _safely(client().set, distinct_id=distinct_id, properties=properties)


FLUSH_TIMEOUT_SECONDS = 2.0


def flush() -> None:
    """Send what is buffered, waiting at most FLUSH_TIMEOUT_SECONDS (PostHog may be down).

    A shutdown hook, run as the process exits: never per request or per job.
    """
    if _client is not None and is_enabled():
        _safely(_client.flush, timeout_seconds=FLUSH_TIMEOUT_SECONDS)


@dataclass(frozen=True)
class Flag:
    enabled: bool
    variant: str | None = None
    payload: Any = None


@dataclass(frozen=True)
class FeatureFlags:
    """The flags one user gets, PostHog's answer laid over FEATURE_FLAG_DEFAULTS."""

    flags: dict[str, Flag] = field(default_factory=dict)

    def is_enabled(self, key: str) -> bool:
        return bool(key) and self.flags.get(key, Flag(enabled=False)).enabled

    def payload(self, key: str) -> Any:
        flag = self.flags.get(key)
        return flag.payload if flag and flag.enabled else None

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {
            key: {"enabled": flag.enabled, "variant": flag.variant, "payload": flag.payload}
            for key, flag in sorted(self.flags.items())
        }


def evaluate_flags(*, distinct_id: str | None, keys: list[str] = ()) -> FeatureFlags:
    """Evaluate flags for a user: locally when a secret key is set, else remotely with a short timeout.

    Any failure, or PostHog being off, falls back to FEATURE_FLAG_DEFAULTS for that flag.
    """
    defaults = _default_flags()
    wanted = sorted(set(keys) | set(defaults))
    local = bool(settings.POSTHOG_SECRET_KEY)
    if not distinct_id or not is_enabled() or not wanted or (local and client().feature_flags is None):
        return FeatureFlags({key: defaults.get(key, Flag(enabled=False)) for key in wanted})
    try:
        snapshot = client().evaluate_flags(distinct_id, flag_keys=wanted, only_evaluate_locally=local)
        answered = set(snapshot.keys)
    except Exception:
        logger.warning("PostHog flag evaluation failed; using defaults", exc_info=True)
        return FeatureFlags({key: defaults.get(key, Flag(enabled=False)) for key in wanted})
    flags = {}
    for key in wanted:
        if key not in answered:
            flags[key] = defaults.get(key, Flag(enabled=False))
            continue
        # No exposure event: evaluating is not showing (the admin page evaluates too).
        value = snapshot.get_flag(key, send_feature_flag_events=False)
        flags[key] = Flag(
            enabled=bool(value),
            variant=value if isinstance(value, str) else None,
            payload=snapshot.get_flag_payload(key),
        )
    return FeatureFlags(flags)


def _default_flags() -> dict[str, Flag]:
    defaults = {}
    for key, value in settings.FEATURE_FLAG_DEFAULTS.items():
        if isinstance(value, dict):
            defaults[key] = Flag(enabled=bool(value.get("enabled", True)), payload=value.get("payload"))
        else:
            defaults[key] = Flag(enabled=bool(value))
    return defaults


def _safely(function, *args, **kwargs) -> Any:
    try:
        return function(*args, **kwargs)
    except Exception:
        logger.warning("PostHog call %s failed", getattr(function, "__name__", function), exc_info=True)
        return None


def _log_error(error: Exception, batch=None) -> None:
    logger.warning("PostHog delivery failed: %s", type(error).__name__)


def capture_on_commit(event: str, *, distinct_id: str | None, properties: dict[str, Any] | None = None) -> None:
    """Capture once the surrounding transaction commits, so a rolled-back change sends nothing."""
    transaction.on_commit(lambda: capture(event, distinct_id=distinct_id, properties=properties))
