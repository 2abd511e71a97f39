"""Render limits: the render-limits flag payload, e.g. {"monthly_renders": 30, "max_output_height": 1080}."""

from django.conf import settings
from django.db.models import Q

from accounts.features import plan_limits
from accounts.models import User
from core.errors import ServiceError
from core.periods import current_month
from renders.layout import output_size
from renders.models import RenderJob, RenderPreset


class RenderLimitExceeded(ServiceError):
    """The user's plan does not allow this render: 429 for the monthly count, 403 for the resolution."""

    status = 429
    default_code = "render_limit_reached"


def render_limits_flag_keys() -> list[str]:
    return [settings.RENDER_LIMITS_FLAG]


def render_limits_check(*, owner: User, preset: RenderPreset, aspect: str) -> None:
    """Raise RenderLimitExceeded if the user's plan does not allow one more render of this preset and aspect.

    Call it with the user's row locked (see render_job_create), so two requests cannot take the last render.
    """
    limits = plan_limits(owner)
    max_height = limits.get("max_output_height")
    if isinstance(max_height, int):
        _, height = output_size(preset_width=preset.width, preset_height=preset.height, aspect=aspect)
        if height > max_height:
            raise RenderLimitExceeded(
                f"Your plan renders up to {max_height}p; this preset and aspect render {height}p.",
                code="resolution_not_allowed",
                status=403,
                details={"max_output_height": max_height, "requested_output_height": height},
            )
    monthly = limits.get("monthly_renders")
    if isinstance(monthly, int):
        month_start, resets_at = current_month()
        # Cancelled renders count (they cost Lambda time); failed ones don't. A job retried this
        # month counts in this month, whenever it was first created.
        used = (
            RenderJob.objects.filter(owner=owner)
            .filter(Q(created_at__gte=month_start) | Q(requeued_at__gte=month_start))
            .exclude(status=RenderJob.Status.FAILED)
            .count()
        )
        if used >= monthly:
            raise RenderLimitExceeded(
                f"You have used all {monthly} renders of this month; the limit resets on {resets_at:%Y-%m-%d}.",
                details={"limit": monthly, "used": used, "resets_at": resets_at.isoformat()},
            )
