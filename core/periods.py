from datetime import datetime, timedelta

from django.utils import timezone


def current_month() -> tuple[datetime, datetime]:
    """The start of this month and of the next: the period monthly usage limits count in."""
    start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, (start + timedelta(days=32)).replace(day=1)
