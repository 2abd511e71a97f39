"""What automations does when the apps below it announce something."""

from django.dispatch import receiver

from accounts.signals import twitch_link_changed
from clips.signals import clip_import_finished
from core.queue import defer


@receiver(twitch_link_changed, dispatch_uid="automations.sync_eventsub")
def sync_eventsub(sender, user_id, **kwargs) -> None:
    defer("automations.tasks.sync_user_eventsub", queueing_lock=f"eventsub-user:{user_id}", user_id=str(user_id))


@receiver(clip_import_finished, dispatch_uid="automations.match_import")
def match_import(sender, clip_import, **kwargs) -> None:
    defer("automations.tasks.match_imported_clips", clip_import_id=str(clip_import.pk))
