"""Word-by-word captions: the options a render job may ask for, and how its words are grouped.

A job's `input_props["captions"]` (validated in renders/specs.py, its words copied from the clip's
transcript, trimmed to the render window and shifted to start at 0):

    {"style": "karaoke", "position": "bottom", "max_words": 3, "uppercase": False,
     "highlight_color": "#FFD400", "words": [{"text": "Clutch", "start": 0.0, "end": 0.42}, ...]}

Pure code: the local backend draws the pages with libass (renders/backends/captions_ass.py), and
the Remotion backend gets the words in @remotion/captions' `Caption` shape (`to_remotion_captions`).
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CAPTION_STYLES = ("karaoke", "pop", "subtitle")
CAPTION_POSITIONS = ("bottom", "middle", "top")
CAPTION_MAX_WORDS = 6
DEFAULT_CAPTIONS = {
    "style": "karaoke",
    "position": "bottom",
    "max_words": 3,
    "uppercase": False,
    "highlight_color": "#FFD400",
}
# A silence longer than this between two words starts a new page.
PAGE_BREAK_PAUSE_SECONDS = 0.6
_HEX_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")
# A word ending a sentence, closing quotes and brackets after the mark included ("Go!", "done.)", "why?”").
_SENTENCE_END = re.compile("[.!?\u2026][\"'\u201d\u2019\u00bb)\\]]*$")


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Page:
    """The words shown together, from the first word's start to the last word's end (seconds)."""

    words: tuple[Word, ...]

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return self.words[-1].end

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)


def caption_settings(captions: Mapping | None) -> dict | None:
    """The captions to draw, every option filled in (the defaults for any missing or unusable one).

    None when there is nothing to draw: no captions asked for, or no word in the render window.
    """
    if not captions or not captions.get("words"):
        return None
    settings = {**DEFAULT_CAPTIONS}
    if captions.get("style") in CAPTION_STYLES:
        settings["style"] = captions["style"]
    if captions.get("position") in CAPTION_POSITIONS:
        settings["position"] = captions["position"]
    max_words = captions.get("max_words")
    if isinstance(max_words, int) and not isinstance(max_words, bool):
        settings["max_words"] = min(CAPTION_MAX_WORDS, max(1, max_words))
    if isinstance(captions.get("uppercase"), bool):
        settings["uppercase"] = captions["uppercase"]
    color = captions.get("highlight_color")
    if isinstance(color, str) and _HEX_COLOR.fullmatch(color):
        settings["highlight_color"] = color.upper()
    settings["words"] = list(captions["words"])
    return settings


def caption_words(words: Iterable[Mapping | Word]) -> list[Word]:
    """The words as `Word`s, in time order, without blank ones."""
    result = []
    for word in words:
        if isinstance(word, Word):
            result.append(word)
        elif str(word["text"]).strip():
            result.append(Word(text=str(word["text"]).strip(), start=float(word["start"]), end=float(word["end"])))
    return sorted(result, key=lambda word: (word.start, word.end))


def caption_pages(words: Iterable[Mapping | Word], *, max_words: int) -> list[Page]:
    """Group the words into pages of at most `max_words`, breaking early after a sentence or a pause.

    A new page also starts after a word that ends a sentence (".", "!", "?") and when the silence
    before a word is longer than PAGE_BREAK_PAUSE_SECONDS.
    """
    max_words = max(1, max_words)
    pages: list[Page] = []
    current: list[Word] = []
    for word in caption_words(words):
        if current and (
            len(current) >= max_words
            or word.start - current[-1].end > PAGE_BREAK_PAUSE_SECONDS
            or _SENTENCE_END.search(current[-1].text)
        ):
            pages.append(Page(words=tuple(current)))
            current = []
        current.append(word)
    if current:
        pages.append(Page(words=tuple(current)))
    return pages


def to_remotion_captions(words: Iterable[Mapping | Word]) -> list[dict]:
    """The words as @remotion/captions' `Caption` objects, for a Remotion composition to render as they are.

    `createTikTokStyleCaptions` expects the whitespace before each word inside its `text`, so every
    word but the first has a leading space. Transcripts carry no confidence: it is null, as `Caption`
    allows (`number | null`).
    """
    captions = []
    for index, word in enumerate(caption_words(words)):
        start_ms, end_ms = round(word.start * 1000), round(word.end * 1000)
        captions.append(
            {
                "text": word.text if index == 0 else f" {word.text}",
                "startMs": start_ms,
                "endMs": end_ms,
                "timestampMs": start_ms,
                "confidence": None,
            }
        )
    return captions
