"""Word-by-word captions as an ASS subtitle file, for ffmpeg's `ass` filter (libass) to burn in.

Three looks, each sized from the output frame (PlayResX/PlayResY are the output size, so every
size here is in output pixels):

- karaoke: the whole page shown, the word being said in the highlight colour, the others white.
- pop: the page's words appear as they are said; the new word scales in, highlighted.
- subtitle: plain white text, a page at a time, on at most two balanced lines.

User text never becomes ASS markup: `_ass_text` turns braces and backslashes into look-alikes the
caption font has, and drops control characters. The text reaches ffmpeg only inside this file,
never through the filter graph.

The font is Lato (SIL Open Font License 1.1, from the `font-lato` package pinned in
requirements.txt, its OFL.txt beside the fonts): ffmpeg gets `fontsdir=CAPTION_FONT_DIR`, so
captions look the same on every machine.
"""

import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path

import font_lato
import pysubs2

from renders.captions import DEFAULT_CAPTIONS, PAGE_BREAK_PAUSE_SECONDS, Page, Word, caption_pages, caption_settings

CAPTION_FONT_DIR = Path(font_lato.font_directory)
CAPTION_FONT_FILE = CAPTION_FONT_DIR / "Lato-Black.ttf"
CAPTION_FONT_LICENSE = CAPTION_FONT_DIR / "OFL.txt"
# Family names as libass matches them: Lato-Black.ttf is the family "Lato Black"; "Lato" in bold is Lato-Bold.ttf.
CAPTION_FONT_FAMILY = "Lato Black"
SUBTITLE_FONT_FAMILY = "Lato"

# Font size per style, as a share of the frame's short side (its width for portrait and square frames).
FONT_SCALE = {"karaoke": 1 / 14, "pop": 1 / 14, "subtitle": 1 / 18}
# 9:16-like frames: TikTok, Shorts and Reels put buttons on the right and the account name and
# description over the bottom fifth. Captions stay between 12% margins and above 75% of the height.
PORTRAIT_MIN_RATIO = 1.6
PORTRAIT_SIDE_MARGIN = 0.12
PORTRAIT_BOTTOM_EDGE = 0.75
PORTRAIT_TOP_EDGE = 0.15
# With a title at the top, "top" captions start at 22% of the height (and always below the title).
PORTRAIT_TOP_EDGE_UNDER_TITLE = 0.22
# Other frames (1:1, 4:5, 16:9): just inside the frame.
OTHER_SIDE_MARGIN = 0.06
OTHER_BOTTOM_EDGE = 0.90
OTHER_TOP_EDGE = 0.08
TITLE_GAP = 0.03
# The pop animation: the new word grows from 70% to 115% of its size, then settles at 100% (milliseconds).
POP_FROM_SCALE, POP_PEAK_SCALE = 70, 115
POP_GROW_MS, POP_SETTLE_MS = 90, 170
# Rough advance of a character as a share of the font size, to shrink a line that would not fit.
CHAR_WIDTH = {False: 0.56, True: 0.68}  # keyed by uppercase
MIN_SHRINK = 0.5
WHITE = "&HFFFFFF&"

_WHITESPACE = re.compile(r"\s+")
# Pictographs (emoji, dingbats, flags, skin tones) with their joiners and variation selectors: the
# caption font has none of them and libass draws no colour emoji, so they would be empty boxes.
_PICTOGRAPHS = re.compile(
    "(?:[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\U000e0020-\U000e007f]"
    "[\ufe0e\ufe0f\u20e3\U0001f3fb-\U0001f3ff]*\u200d?)+|[\ufe0e\ufe0f\u20e3]"
)
# Look-alikes for the characters libass reads as markup ("{\an8}", "\N", "\h"), all in the caption font.
_MARKUP_LOOKALIKES = str.maketrans({"{": "(", "}": ")", "\\": "/"})


def _ass_text(text: str) -> str:
    """User text as plain ASS dialogue text: never an override tag, a line break or a hard space.

    Braces become parentheses and backslashes slashes (so "{\\an8}" shows as "(/an8)" and "\\N" as
    "/N"); control characters, line separators and lone surrogates go (tabs and newlines become
    spaces); pictographs (emoji) go; runs of spaces become one.
    """
    kept = []
    for char in _PICTOGRAPHS.sub("", text).translate(_MARKUP_LOOKALIKES):
        category = unicodedata.category(char)
        if char.isspace() or category in ("Zl", "Zp"):
            kept.append(" ")
        elif category not in ("Cc", "Cs", "Co", "Cn"):
            kept.append(char)
    return _WHITESPACE.sub(" ", "".join(kept)).strip()


def write_ass_file(path: Path, *, captions: Mapping, width: int, height: int, avoid_top: int = 0) -> None:
    """Write the job's captions (`input_props["captions"]`) as an ASS file for a `width`x`height` render.

    `avoid_top`: pixels at the top of the frame the captions must keep clear of (the title's band).
    Writes a file with no events when there is no word to show.
    """
    settings = caption_settings(captions) or {**DEFAULT_CAPTIONS, "words": []}
    style_name = settings["style"]
    uppercase = settings["uppercase"]
    words = []
    for word in settings["words"]:
        text = _ass_text(str(word["text"]).upper() if uppercase else str(word["text"]))
        if text:
            words.append(Word(text=text, start=float(word["start"]), end=float(word["end"])))
    pages = caption_pages(words, max_words=settings["max_words"])

    subs = pysubs2.SSAFile()
    subs.info.update(
        {
            "Title": "CreatorSync captions",
            "PlayResX": str(width),
            "PlayResY": str(height),
            "WrapStyle": "0",
            "ScaledBorderAndShadow": "yes",
        }
    )
    style = _style(style_name, width=width, height=height, position=settings["position"], avoid_top=avoid_top)
    subs.styles = {style_name: style}
    available = width - style.marginl - style.marginr
    highlight = _override_color(settings["highlight_color"])
    events = []
    for index, page in enumerate(pages):
        shown_until = _shown_until(page, pages[index + 1] if index + 1 < len(pages) else None)
        if style_name == "subtitle":
            lines = _two_lines([word.text for word in page.words])
            fit = _fit(lines, size=style.fontsize, available=available, uppercase=uppercase)
            events.append((page.start, shown_until, fit + r"\N".join(lines)))
            continue
        fit = _fit([word.text for word in page.words], size=style.fontsize, available=available, uppercase=uppercase)
        for position, word in enumerate(page.words):
            until = page.words[position + 1].start if position + 1 < len(page.words) else shown_until
            text = (
                _karaoke_text(page, position, highlight)
                if style_name == "karaoke"
                else _pop_text(page, position, highlight)
            )
            events.append((word.start, until, fit + text))
    subs.events = _timed_events(events, style_name)
    subs.save(str(path), encoding="utf-8", format_="ass")


def _style(name: str, *, width: int, height: int, position: str, avoid_top: int) -> pysubs2.SSAStyle:
    size = max(10, round(min(width, height) * FONT_SCALE[name]))
    portrait = height / width >= PORTRAIT_MIN_RATIO
    side = round(width * (PORTRAIT_SIDE_MARGIN if portrait else OTHER_SIDE_MARGIN))
    if position == "top":
        top = PORTRAIT_TOP_EDGE if portrait else OTHER_TOP_EDGE
        if avoid_top and portrait:
            top = PORTRAIT_TOP_EDGE_UNDER_TITLE
        alignment = pysubs2.Alignment.TOP_CENTER
        margin_v = max(round(height * top), avoid_top + round(height * TITLE_GAP) if avoid_top else 0)
    elif position == "middle":
        alignment, margin_v = pysubs2.Alignment.MIDDLE_CENTER, 0
    else:
        alignment = pysubs2.Alignment.BOTTOM_CENTER
        margin_v = round(height * (1 - (PORTRAIT_BOTTOM_EDGE if portrait else OTHER_BOTTOM_EDGE)))
    subtitle = name == "subtitle"
    return pysubs2.SSAStyle(
        fontname=SUBTITLE_FONT_FAMILY if subtitle else CAPTION_FONT_FAMILY,
        fontsize=size,
        primarycolor=pysubs2.Color(255, 255, 255, 0),
        secondarycolor=pysubs2.Color(255, 255, 255, 0),
        outlinecolor=pysubs2.Color(0, 0, 0, 0),
        backcolor=pysubs2.Color(0, 0, 0, 0x80),
        bold=subtitle,
        borderstyle=1,
        outline=round(size * (0.08 if subtitle else 0.12), 1),
        shadow=round(size * (0.04 if subtitle else 0.05), 1),
        alignment=alignment,
        marginl=side,
        marginr=side,
        marginv=margin_v,
    )


def _override_color(hex_color: str) -> str:
    """`#RRGGBB` as an ASS colour override's value, `&HBBGGRR&`."""
    red, green, blue = hex_color[1:3], hex_color[3:5], hex_color[5:7]
    return f"&H{blue}{green}{red}&".upper()


# Tags end with explicit values, never {\r}: a reset would also undo the event's font size fit.
def _karaoke_text(page: Page, current: int, highlight: str) -> str:
    texts = [word.text for word in page.words]
    said = rf"{{\c{highlight}}}{texts[current]}{{\c{WHITE}}}"
    return " ".join([*texts[:current], said, *texts[current + 1 :]])


def _pop_text(page: Page, current: int, highlight: str) -> str:
    texts = [word.text for word in page.words]
    grow = rf"\t(0,{POP_GROW_MS},\fscx{POP_PEAK_SCALE}\fscy{POP_PEAK_SCALE})"
    settle = rf"\t({POP_GROW_MS},{POP_SETTLE_MS},\fscx100\fscy100)"
    said = rf"{{\c{highlight}\fscx{POP_FROM_SCALE}\fscy{POP_FROM_SCALE}{grow}{settle}}}{texts[current]}"
    parts = [*texts[:current], said]
    if current + 1 < len(texts):
        # Not said yet: laid out but invisible, so the line does not move as words appear.
        parts.append(rf"{{\c{WHITE}\fscx100\fscy100\alpha&HFF&}}" + " ".join(texts[current + 1 :]))
    return " ".join(parts)


def _two_lines(texts: list[str]) -> list[str]:
    """The words on one line, or two lines as even as can be when there are three words or more."""
    if len(texts) < 3:
        return [" ".join(texts)]
    best = min(
        range(1, len(texts)),
        key=lambda cut: max(len(" ".join(texts[:cut])), len(" ".join(texts[cut:]))),
    )
    return [" ".join(texts[:best]), " ".join(texts[best:])]


def _fit(parts: list[str], *, size: float, available: int, uppercase: bool) -> str:
    """A font size override when the widest part would not fit the line (a very long word), else nothing."""
    widest = max((len(part) for part in parts), default=0) * size * CHAR_WIDTH[uppercase]
    if widest <= available:
        return ""
    return rf"{{\fs{max(size * MIN_SHRINK, size * available / widest):.0f}}}"


def _shown_until(page: Page, following: Page | None) -> float:
    """A page stays up until the next one when only a short silence parts them, so captions do not flicker."""
    if following and following.start - page.end <= PAGE_BREAK_PAUSE_SECONDS:
        return following.start
    return page.end


def _timed_events(events: list[tuple[float, float, str]], style: str) -> list[pysubs2.SSAEvent]:
    """Dialogue events on whole centiseconds (ASS's precision) that never overlap, so libass never stacks two."""
    result = []
    previous_end = 0
    for start, end, text in events:
        start_cs = max(round(start * 100), previous_end)
        end_cs = round(end * 100)
        if end_cs <= start_cs:
            continue
        result.append(pysubs2.SSAEvent(start=start_cs * 10, end=end_cs * 10, style=style, text=text))
        previous_end = end_cs
    return result
