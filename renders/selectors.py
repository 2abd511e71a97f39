from django.db.models import Q, QuerySet

from accounts.features import user_features
from accounts.models import User
from renders.models import RenderJob, RenderPreset, RenderTemplate


def presets_for_user(*, user: User) -> QuerySet[RenderPreset]:
    """Active presets this user may use: ungated ones, and gated ones whose feature flag is on for them."""
    active = RenderPreset.objects.filter(is_active=True)
    flags = user_features(user)
    enabled_keys = [
        key
        for key in active.exclude(feature_flag_key="").values_list("feature_flag_key", flat=True)
        if flags.is_enabled(key)
    ]
    return active.filter(Q(feature_flag_key="") | Q(feature_flag_key__in=enabled_keys)).order_by("name")


def preset_flag_keys() -> list[str]:
    """The flags that gate active presets: every user's flag evaluation includes them."""
    gated = RenderPreset.objects.filter(is_active=True).exclude(feature_flag_key="")
    return list(gated.values_list("feature_flag_key", flat=True).distinct())


def renders_owned_by(*, user: User | None) -> QuerySet[RenderJob]:
    """The user's render jobs; none for an anonymous or missing user, so a stranger's id looks unknown."""
    if user is None or not user.is_authenticated:
        return RenderJob.objects.none()
    return RenderJob.objects.filter(owner=user)


def templates_owned_by(*, user: User | None) -> QuerySet[RenderTemplate]:
    if user is None or not user.is_authenticated:
        return RenderTemplate.objects.none()
    return RenderTemplate.objects.filter(owner=user)
