"""The feature flags a user gets, evaluated once per request and shared by every use in it.

Which flags to evaluate is contributed by the apps that use them (renders registers its
preset and limit flags in its AppConfig.ready), so this module imports no app above it.
"""

from collections.abc import Callable, Iterable

from django.conf import settings

from accounts.models import User
from integrations import posthog

_flag_key_sources: list[Callable[[], Iterable[str]]] = []


def flag_keys_register(source: Callable[[], Iterable[str]]) -> None:
    """Add a function naming flags every user's evaluation must include."""
    if source not in _flag_key_sources:
        _flag_key_sources.append(source)


def user_features(user: User) -> posthog.FeatureFlags:
    """Flags for the frontend (/api/me/), preset gating and render limits. Cached on the user object."""
    cached = getattr(user, "_feature_flags", None)
    if cached is None:
        cached = posthog.evaluate_flags(distinct_id=user.clerk_id, keys=feature_keys())
        user._feature_flags = cached
    return cached


def feature_keys() -> list[str]:
    keys = set(settings.FEATURE_FLAGS_EXPOSED)
    for source in _flag_key_sources:
        keys.update(source())
    return sorted(keys)


def plan_limits(user: User) -> dict:
    """The user's plan limits: the render-limits flag's payload, e.g. {"monthly_renders": 30}; {} when none."""
    limits = user_features(user).payload(settings.RENDER_LIMITS_FLAG)
    return limits if isinstance(limits, dict) else {}
