"""The feature flags a user gets, evaluated once per request and shared by every use in it."""

from django.conf import settings

from accounts.models import User
from integrations import posthog


def user_features(user: User) -> posthog.FeatureFlags:
    """Flags for the frontend (/api/me/), preset gating and render limits. Cached on the user object."""
    cached = getattr(user, "_feature_flags", None)
    if cached is None:
        cached = posthog.evaluate_flags(distinct_id=user.clerk_id, keys=feature_keys())
        user._feature_flags = cached
    return cached


def feature_keys() -> list[str]:
    from renders.models import RenderPreset

    preset_keys = RenderPreset.objects.filter(is_active=True).exclude(feature_flag_key="")
    return sorted(
        {
            settings.RENDER_LIMITS_FLAG,
            *settings.FEATURE_FLAGS_EXPOSED,
            *preset_keys.values_list("feature_flag_key", flat=True).distinct(),
        }
    )
