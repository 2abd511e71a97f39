from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Clients for Clerk, Twitch, Remotion and PostHog. No models of its own."""

    name = "integrations"
