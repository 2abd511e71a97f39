from django.db.models import QuerySet

from accounts.models import User
from renders.models import RenderPreset


def presets_for_user(*, user: User) -> QuerySet[RenderPreset]:
    """Active presets this user may use. Presets gated by a feature flag are hidden until flags exist."""
    return RenderPreset.objects.filter(is_active=True, feature_flag_key="").order_by("name")
