"""Render templates: their placeholders, and the props a render of one clip gets from a template."""

import logging
import string

from clips.models import Clip
from core.errors import ServiceError
from integrations.twitch import TwitchClient, TwitchError
from renders.models import RenderTemplate

logger = logging.getLogger(__name__)

PLACEHOLDERS = ("clip_title", "game", "broadcaster")
SAMPLE_VALUES = {"clip_title": "Clip title", "game": "Game", "broadcaster": "Streamer"}


class InvalidPlaceholder(ServiceError):
    default_code = "invalid_placeholder"


def placeholders_check(text: object) -> str:
    """`text` if its only fields are bare {clip_title}, {game} and {broadcaster}; else InvalidPlaceholder (400)."""
    text = str(text or "")
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(text)]
    except ValueError as exc:
        raise InvalidPlaceholder("Unbalanced braces: write {{ and }} for literal ones.") from exc
    allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    for name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            raise InvalidPlaceholder(
                f"Unknown placeholder {{{name}}}: use {allowed}.", details={"placeholder": name or "{}"}
            )
    return text


def fill_placeholders(text: str, values: dict[str, str]) -> str:
    """Fill a checked text (see placeholders_check)."""
    return string.Formatter().vformat(text, (), {name: values.get(name, "") for name in PLACEHOLDERS})


def placeholder_values(clip: Clip, *, texts: list[str]) -> dict[str, str]:
    """The clip's values for `texts`: the game's name is asked of Twitch once, and only when one uses it."""
    used = {name for text in texts for _, name, _, _ in string.Formatter().parse(text) if name}
    game = game_name(clip.game_id) if "game" in used else ""
    return {"clip_title": clip.title, "game": game, "broadcaster": clip.broadcaster_name}


def game_name(game_id: str) -> str:
    """The game's name from Helix; empty when Twitch does not say (nothing is held up for it)."""
    if not game_id:
        return ""
    try:
        games = TwitchClient().get_games(ids=[game_id])
    except TwitchError as exc:
        logger.info("No name for game %s: %s", game_id, exc.code)
        return ""
    return str(games[0].get("name", "")) if games else ""


def template_render_props(*, template: RenderTemplate, clip: Clip, props: dict | None = None) -> dict:
    """What a render of `clip` from the template asks for: the template's props, overridden by any
    given; its title's placeholders filled, and its trim kept within the clip."""
    merged = {**template.props, **(props or {})}
    if "title" not in (props or {}) and merged.get("title"):
        merged["title"] = fill_placeholders(merged["title"], placeholder_values(clip, texts=[merged["title"]]))
    if "trim_end" not in (props or {}) and isinstance(merged.get("trim_end"), int | float):
        # A template's trim is a most: a shorter clip is rendered whole.
        merged["trim_end"] = min(merged["trim_end"], clip.seconds)
    return merged
