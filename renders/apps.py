from django.apps import AppConfig


class RendersConfig(AppConfig):
    name = "renders"

    def ready(self) -> None:
        from renders import signals  # noqa: F401 (connects the receivers)
