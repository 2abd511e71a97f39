"""Reads of users for other apps: they reach accounts only through here (and services for writes)."""

from django.db.models import Q, QuerySet

from accounts.models import TwitchAccount, User


def user_has_twitch(*, user: User) -> bool:
    return TwitchAccount.objects.filter(user=user).exists()


def users_with_twitch() -> QuerySet[User]:
    """Active users with a linked Twitch account, the account joined in."""
    return User.objects.filter(is_active=True, twitch_account__isnull=False).select_related("twitch_account")


def users_by_ids(*, ids) -> QuerySet[User]:
    return User.objects.filter(pk__in=ids)


def active_user_find(*, reference: str | None) -> User | None:
    """An active user by username or email; without a reference, the first superuser (the local admin)."""
    users = User.objects.filter(is_active=True)
    if not reference:
        return users.filter(is_superuser=True).order_by("date_joined").first()
    return users.filter(Q(username=reference) | Q(email__iexact=reference)).order_by("date_joined").first()
