from django.apps import AppConfig


class CreatorSyncConfig(AppConfig):
    """The project package as an app: its periodic queue tasks and the `dev` command."""

    name = "creatorsync"
    verbose_name = "CreatorSync"
