import pytest
from procrastinate.contrib.django.models import ProcrastinateJob
from responses import matchers

from accounts import services
from accounts.models import TwitchAccount
from accounts.services import clerk_user_upsert
from integrations.tests.fakes import BROADCASTER_ID, USERS_URL, clerk_user, helix_users

pytestmark = pytest.mark.django_db


def test_it_fills_the_display_name_and_current_login_from_helix(twitch, streamer):
    twitch.get(
        USERS_URL,
        match=[matchers.query_param_matcher({"id": BROADCASTER_ID})],
        json=helix_users(login="ownerrenamed", display_name="OwnerRenamed"),
    )
    account = services.twitch_account_refresh(account_id=str(streamer.twitch_account.pk))
    account.refresh_from_db()
    assert (account.login, account.display_name) == ("ownerrenamed", "OwnerRenamed")


def test_an_account_unlinked_meanwhile_is_skipped_without_calling_twitch(twitch, streamer):
    account_id = str(streamer.twitch_account.pk)
    TwitchAccount.objects.all().delete()
    assert services.twitch_account_refresh(account_id=account_id) is None
    assert not [call for call in twitch.calls if "/users" in call.request.url]


def test_linking_twitch_queues_the_refresh(twitch_settings, owner):
    clerk_user_upsert(data=clerk_user(owner.clerk_id, updated_at=1_800_000_000_000))
    job = ProcrastinateJob.objects.get(task_name="accounts.tasks.refresh_twitch_account")
    assert job.args == {"account_id": str(TwitchAccount.objects.get(user=owner).pk)}


def test_without_twitch_credentials_nothing_is_queued(settings, owner):
    settings.TWITCH_CLIENT_ID = ""
    clerk_user_upsert(data=clerk_user(owner.clerk_id, updated_at=1_800_000_000_000))
    assert not ProcrastinateJob.objects.filter(task_name="accounts.tasks.refresh_twitch_account").exists()
