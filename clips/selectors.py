"""Reads of clips for other apps: they reach clips only through here."""

from django.db.models import QuerySet

from accounts.models import User
from clips.models import Clip


def clips_owned_by(*, user: User | None) -> QuerySet[Clip]:
    """The user's clips; none for an anonymous or missing user, so a stranger's id looks unknown."""
    if user is None or not user.is_authenticated:
        return Clip.objects.none()
    return Clip.objects.filter(owner=user)
