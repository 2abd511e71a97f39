"""A thin client for Twitch Helix: app and user tokens, rate limits, retries, typed errors."""

from integrations.twitch.client import ClipPage, TwitchClient, TwitchError

__all__ = ["ClipPage", "TwitchClient", "TwitchError"]
