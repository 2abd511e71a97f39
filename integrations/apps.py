from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Clients for Clerk, Twitch, Remotion and PostHog."""

    name = "integrations"

    def ready(self) -> None:
        # Imported here, as Django expects: the client reads settings when configured.
        from integrations import posthog

        posthog.configure()
