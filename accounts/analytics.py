"""The analytics events of accounts, and their properties, in one place. Sent after commit."""

from accounts.models import TwitchAccount, User
from integrations import posthog


def user_signed_up(user: User, *, source: str) -> None:
    posthog.capture_on_commit(
        "user signed up",
        distinct_id=user.clerk_id,
        properties={"source": source, "has_twitch": TwitchAccount.objects.filter(user=user).exists()},
    )


def twitch_linked(account: TwitchAccount) -> None:
    posthog.capture_on_commit(
        "twitch linked",
        distinct_id=account.user.clerk_id,
        properties={"twitch_user_id": account.twitch_user_id, "twitch_login": account.login},
    )


def user_deleted(*, clerk_id: str) -> None:
    posthog.capture_on_commit("user deleted", distinct_id=clerk_id, properties={})
