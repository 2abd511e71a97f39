"""A thin client for Twitch Helix: app and user tokens, rate limits, retries, typed errors; and EventSub."""

from integrations.twitch.client import ClipPage, TwitchClient, TwitchError
from integrations.twitch.eventsub import (
    EventSubMessage,
    EventSubSignatureError,
    is_valid_eventsub_secret,
    parse_eventsub_message,
    parse_twitch_duration,
    parse_twitch_timestamp,
    verify_eventsub_request,
)

__all__ = [
    "ClipPage",
    "EventSubMessage",
    "EventSubSignatureError",
    "TwitchClient",
    "TwitchError",
    "is_valid_eventsub_secret",
    "parse_eventsub_message",
    "parse_twitch_duration",
    "parse_twitch_timestamp",
    "verify_eventsub_request",
]
