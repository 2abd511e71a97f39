"""Builders for users and their linked Twitch accounts."""

from accounts.models import TwitchAccount, User
from integrations.tests.fakes import BROADCASTER_ID


def make_user(username: str, *, clerk_id: str | None = None, email: str | None = None, **fields) -> User:
    """A Clerk user: `clerk_id` defaults to a 28-character id derived from the username."""
    return User.objects.create_user(
        username=username,
        email=email if email is not None else f"{username}@example.com",
        clerk_id=clerk_id if clerk_id is not None else f"user_{username}".ljust(28, "0"),
        **fields,
    )


def link_twitch(user: User, *, twitch_user_id: str = BROADCASTER_ID, login: str = "ownerstreams") -> TwitchAccount:
    """The user's Twitch account, as linked through Clerk."""
    return TwitchAccount.objects.create(user=user, twitch_user_id=twitch_user_id, login=login)
