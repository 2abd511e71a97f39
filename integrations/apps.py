from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Clients for Clerk, Twitch, Remotion and PostHog."""

    name = "integrations"

    def ready(self) -> None:
        from integrations import posthog

        posthog.configure()
