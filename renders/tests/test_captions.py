"""Word-by-word captions: pages, the Remotion shape, the ASS file, and real local renders with them burned in."""

import io
import itertools
import shutil
import subprocess
from pathlib import Path

import pysubs2
import pytest
from django.core.management import call_command

from clips.media import ffmpeg_path, probe_video
from renders.backends import captions_ass
from renders.backends import local as local_backend
from renders.backends.captions_ass import CAPTION_FONT_DIR, CAPTION_FONT_FAMILY, _ass_text, write_ass_file
from renders.captions import (
    CAPTION_POSITIONS,
    CAPTION_STYLES,
    DEFAULT_CAPTIONS,
    Page,
    Word,
    caption_pages,
    caption_settings,
    to_remotion_captions,
)
from renders.tests.factories import make_job, make_preset

W, H = 360, 640


def words(*spec: tuple[str, float, float]) -> list[dict]:
    return [{"text": text, "start": start, "end": end} for text, start, end in spec]


def evenly(*texts: str, step: float = 0.3) -> list[dict]:
    """Back-to-back words, `step` seconds each, from 0."""
    return words(*((text, index * step, (index + 1) * step) for index, text in enumerate(texts)))


def captions(word_list: list[dict], **options) -> dict:
    return {**DEFAULT_CAPTIONS, **options, "words": word_list}


def page_texts(pages: list[Page]) -> list[str]:
    return [page.text for page in pages]


# --- Pages ----------------------------------------------------------------------------------------


def test_pages_hold_at_most_max_words():
    pages = caption_pages(evenly("a", "b", "c", "d", "e", "f", "g"), max_words=3)
    assert page_texts(pages) == ["a b c", "d e f", "g"]
    assert page_texts(caption_pages(evenly("a", "b", "c"), max_words=1)) == ["a", "b", "c"]


def test_a_page_spans_its_first_words_start_to_its_last_words_end():
    page = caption_pages(words(("one", 0.2, 0.5), ("two", 0.55, 0.9)), max_words=3)[0]
    assert (page.start, page.end) == (0.2, 0.9)
    assert page.words == (Word("one", 0.2, 0.5), Word("two", 0.55, 0.9))


def test_a_pause_longer_than_six_tenths_starts_a_new_page():
    spoken = words(("so", 0.0, 0.3), ("then", 0.3, 0.6), ("we", 1.21, 1.4), ("pushed", 1.4, 1.8), ("in", 1.8, 2.0))
    assert page_texts(caption_pages(spoken, max_words=3)) == ["so then", "we pushed in"]
    # Exactly 0.6 s of silence is not a pause.
    assert page_texts(caption_pages(words(("a", 0.0, 0.4), ("b", 1.0, 1.2)), max_words=3)) == ["a b"]


@pytest.mark.parametrize("ending", [".", "!", "?", "…", '."', "!)", "?\u201d"])
def test_a_sentence_end_starts_a_new_page(ending):
    pages = caption_pages(evenly(f"Clutch{ending}", "next", "round"), max_words=3)
    assert page_texts(pages) == [f"Clutch{ending}", "next round"]


def test_a_dot_inside_a_word_does_not_end_the_sentence():
    assert page_texts(caption_pages(evenly("v1.2", "is", "out"), max_words=3)) == ["v1.2 is out"]


def test_pages_sort_the_words_and_skip_blank_ones():
    shuffled = words(("b", 0.3, 0.6), ("  ", 0.6, 0.7), ("a", 0.0, 0.3))
    assert page_texts(caption_pages(shuffled, max_words=3)) == ["a b"]
    assert caption_pages([], max_words=3) == []


def test_settings_fill_in_defaults_and_are_none_without_words():
    assert caption_settings(None) is None
    assert caption_settings({"style": "pop", "words": []}) is None
    settings = caption_settings({"words": evenly("hi")})
    assert settings == {**DEFAULT_CAPTIONS, "words": evenly("hi")}
    odd = caption_settings(
        {"style": "x", "position": "left", "max_words": 99, "uppercase": "yes", "highlight_color": "red", "words": [1]}
    )
    assert {key: odd[key] for key in DEFAULT_CAPTIONS} == {**DEFAULT_CAPTIONS, "max_words": 6}
    assert set(CAPTION_STYLES) == {"karaoke", "pop", "subtitle"}
    assert set(CAPTION_POSITIONS) == {"bottom", "middle", "top"}


# --- Remotion ---------------------------------------------------------------------------------------


def test_remotion_captions_have_the_caption_shape_and_a_space_before_every_word_but_the_first():
    result = to_remotion_captions(words(("Using", 0.04, 0.3), ("Remotion's", 0.3, 0.9), ("TikTok", 0.9, 1.2604)))
    assert result == [
        {"text": "Using", "startMs": 40, "endMs": 300, "timestampMs": 40, "confidence": None},
        {"text": " Remotion's", "startMs": 300, "endMs": 900, "timestampMs": 300, "confidence": None},
        {"text": " TikTok", "startMs": 900, "endMs": 1260, "timestampMs": 900, "confidence": None},
    ]
    assert to_remotion_captions([]) == []


# --- Text safety -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"{\an8}gotcha", "(/an8)gotcha"),
        (r"line\Nbreak", "line/Nbreak"),
        (r"hard\hspace", "hard/hspace"),
        (r"soft\nbreak", "soft/nbreak"),
        ("{", "("),
        ("}", ")"),
        (r"{\c&H0000FF&\fs200}big", "(/c&H0000FF&/fs200)big"),
        ("\\", "/"),
        ('He said "no" it\'s fine', 'He said "no" it\'s fine'),
        ("100%", "100%"),
        ("%{pts}", "%(pts)"),
        ("time: 3:00", "time: 3:00"),
        ("a, b; [c]", "a, b; [c]"),
        ("nice🔥", "nice"),
        ("👨\u200d👩\u200d👧 family", "family"),
        ("1\ufe0f\u20e3 first", "1 first"),
        ("ok\x00\x07\x1b[31mred", "ok[31mred"),
        ("two\nlines\r\there", "two lines here"),
        ("para\u2029graph\u2028line\x85end", "para graph line end"),
        ("lone\ud800surrogate", "lonesurrogate"),
        ("café naïve ß", "café naïve ß"),
        ("  spaced   out  ", "spaced out"),
    ],
)
def test_user_text_never_becomes_ass_markup(text, expected):
    assert _ass_text(text) == expected


def test_no_neutralised_text_holds_markup_or_control_characters():
    nasty = "".join(chr(code) for code in range(0x300)) + r"{\an8}\N\h{}\\" + "\u2028\u2029"
    text = _ass_text(nasty)
    assert not set(text) & {"{", "}", "\\", "\n", "\r", "\t", "\x00", "\x7f", "\u2028", "\u2029"}
    assert all(ord(char) >= 0x20 and not 0x7F <= ord(char) <= 0x9F for char in text)


# --- The ASS file ---------------------------------------------------------------------------------


def ass_file(tmp_path: Path, word_list: list[dict], *, width=W, height=H, avoid_top=0, **options) -> pysubs2.SSAFile:
    path = tmp_path / "captions.ass"
    write_ass_file(path, captions=captions(word_list, **options), width=width, height=height, avoid_top=avoid_top)
    return pysubs2.load(str(path), encoding="utf-8")


def timings(subs: pysubs2.SSAFile) -> list[tuple[int, int]]:
    return [(event.start, event.end) for event in subs.events]


@pytest.mark.parametrize("style", CAPTION_STYLES)
def test_the_file_plays_at_the_output_size_in_the_projects_font(tmp_path, style):
    subs = ass_file(tmp_path, evenly("hi"), style=style, width=720, height=1280)
    assert (subs.info["PlayResX"], subs.info["PlayResY"]) == ("720", "1280")
    assert list(subs.styles) == [style]
    font = subs.styles[style]
    assert font.fontname == (CAPTION_FONT_FAMILY if style != "subtitle" else "Lato")
    assert font.fontsize == round(720 / (18 if style == "subtitle" else 14))
    assert font.outline >= 2
    assert font.primarycolor == pysubs2.Color(255, 255, 255, 0)
    assert font.outlinecolor == pysubs2.Color(0, 0, 0, 0)


def test_karaoke_shows_the_page_with_the_current_word_in_the_highlight_colour(tmp_path):
    subs = ass_file(tmp_path, evenly("one", "two", "three", "four"), style="karaoke", highlight_color="#FF8000")
    assert [event.text for event in subs.events] == [
        r"{\c&H0080FF&}one{\c&HFFFFFF&} two three",
        r"one {\c&H0080FF&}two{\c&HFFFFFF&} three",
        r"one two {\c&H0080FF&}three{\c&HFFFFFF&}",
        r"{\c&H0080FF&}four{\c&HFFFFFF&}",
    ]
    assert timings(subs) == [(0, 300), (300, 600), (600, 900), (900, 1200)]


@pytest.mark.parametrize(
    ("color", "ass"), [("#FFD400", "&H00D4FF&"), ("#112233", "&H332211&"), ("#ff0000", "&H0000FF&")]
)
def test_the_highlight_colour_is_written_in_blue_green_red_order(tmp_path, color, ass):
    subs = ass_file(tmp_path, evenly("x"), style="karaoke", highlight_color=color)
    assert subs.events[0].text.startswith(rf"{{\c{ass}}}")


def test_pop_reveals_the_words_as_said_the_new_one_scaling_in_highlighted(tmp_path):
    subs = ass_file(tmp_path, evenly("one", "two", "three"), style="pop", uppercase=True)
    assert timings(subs) == [(0, 300), (300, 600), (600, 900)]
    first, second, last = (event.text for event in subs.events)
    scale_in = r"\fscx70\fscy70\t(0,90,\fscx115\fscy115)\t(90,170,\fscx100\fscy100)"
    assert first == rf"{{\c&H00D4FF&{scale_in}}}ONE {{\c&HFFFFFF&\fscx100\fscy100\alpha&HFF&}}TWO THREE"
    assert second == rf"ONE {{\c&H00D4FF&{scale_in}}}TWO {{\c&HFFFFFF&\fscx100\fscy100\alpha&HFF&}}THREE"
    assert last == rf"ONE TWO {{\c&H00D4FF&{scale_in}}}THREE"


def test_subtitle_shows_each_page_once_on_at_most_two_even_lines(tmp_path):
    spoken = evenly("we", "pushed", "into", "the", "site", "together")
    subs = ass_file(tmp_path, spoken, style="subtitle", max_words=6)
    assert [event.text for event in subs.events] == [r"we pushed into\Nthe site together"]
    assert timings(subs) == [(0, 1800)]
    assert "\\c" not in subs.events[0].text
    subs = ass_file(tmp_path, evenly("short", "one"), style="subtitle", max_words=6)
    assert [event.text for event in subs.events] == ["short one"]


def test_pages_stay_up_across_a_short_silence_and_leave_during_a_pause(tmp_path):
    spoken = words(("Go.", 0.0, 0.4), ("now", 0.7, 1.0), ("wait", 2.0, 2.3))
    subs = ass_file(tmp_path, spoken, style="subtitle")
    # "Go." ends a sentence: its page stays up for the 0.3 s until "now"; "now" leaves during the 1 s pause.
    assert timings(subs) == [(0, 700), (700, 1000), (2000, 2300)]


def test_events_never_overlap_even_when_word_times_touch_at_odd_milliseconds(tmp_path):
    spoken = words(("a", 0.004, 0.333), ("b", 0.333, 0.3349), ("c", 0.335, 0.667), ("d", 0.6671, 1.0))
    for style in CAPTION_STYLES:
        events = timings(ass_file(tmp_path, spoken, style=style, max_words=2))
        assert all(start < end for start, end in events)
        assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(events))


def test_uppercase_and_neutralised_text(tmp_path):
    subs = ass_file(tmp_path, evenly(r"{\an8}Hi", "straße", "🔥"), style="subtitle", uppercase=True)
    assert [event.text for event in subs.events] == ["(/AN8)HI STRASSE"]
    assert timings(subs) == [(0, 600)]  # the emoji-only word is dropped


def test_a_word_too_long_for_the_line_is_shrunk_to_fit(tmp_path):
    subs = ass_file(tmp_path, evenly("x" * 64), style="karaoke")
    assert subs.events[0].text.startswith(r"{\fs")
    assert not ass_file(tmp_path, evenly("short"), style="karaoke").events[0].text.startswith(r"{\fs")


def test_no_words_write_a_file_with_no_events(tmp_path):
    assert ass_file(tmp_path, []).events == []


@pytest.mark.parametrize(
    ("position", "size", "alignment", "margin_v"),
    [
        # 9:16: bottom edge at 75% (clear of the bottom fifth), top at 15%, 12% side margins (43 px).
        ("bottom", (360, 640), pysubs2.Alignment.BOTTOM_CENTER, 160),
        ("middle", (360, 640), pysubs2.Alignment.MIDDLE_CENTER, 0),
        ("top", (360, 640), pysubs2.Alignment.TOP_CENTER, 96),
        # Other frames: just inside, 6% side margins.
        ("bottom", (1280, 720), pysubs2.Alignment.BOTTOM_CENTER, 72),
        ("top", (720, 720), pysubs2.Alignment.TOP_CENTER, 58),
    ],
)
def test_positions_keep_to_the_safe_area(tmp_path, position, size, alignment, margin_v):
    width, height = size
    style = ass_file(tmp_path, evenly("hi"), width=width, height=height, position=position).styles["karaoke"]
    assert style.alignment == alignment
    assert style.marginv == margin_v
    assert style.marginl == style.marginr == round(width * (0.12 if height / width > 1.6 else 0.06))


def test_top_captions_go_below_the_title(tmp_path):
    title_bottom = local_backend.title_bottom(width=W, height=H)
    assert title_bottom < 0.22 * H
    style = ass_file(tmp_path, evenly("hi"), position="top", avoid_top=title_bottom).styles["karaoke"]
    assert style.marginv == round(0.22 * H)
    landscape = ass_file(tmp_path, evenly("hi"), width=1280, height=720, position="top", avoid_top=200)
    assert landscape.styles["karaoke"].marginv == 200 + round(0.03 * 720)


# --- ffmpeg and libass --------------------------------------------------------------------------------


def burn_one_frame(
    ass: Path, *, loglevel: str = "error", pixel_format: str | None = None
) -> subprocess.CompletedProcess:
    """Burn the file's first frame onto gray with the `ass` filter, as renders do; its pixels when asked."""
    graph = f"ass=filename={local_backend.filter_path(ass)}:fontsdir={local_backend.filter_path(CAPTION_FONT_DIR)}"
    output = ["-f", "rawvideo", "-pix_fmt", pixel_format, "-"] if pixel_format else ["-f", "null", "-"]
    result = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", loglevel, "-f", "lavfi", "-i",
         f"color=c=gray:s={W}x{H}:d=1", "-vf", graph, "-frames:v", "1", *output],
        capture_output=True, check=False, timeout=60,
    )  # fmt: skip
    result.stderr = result.stderr.decode(errors="replace")
    return result


def test_libass_draws_with_the_shipped_font_from_fontsdir(tmp_path):
    assert (CAPTION_FONT_DIR / "Lato-Black.ttf").is_file()
    assert "SIL Open Font License" in captions_ass.CAPTION_FONT_LICENSE.read_text()
    path = tmp_path / "captions.ass"
    write_ass_file(path, captions=captions(evenly("Hello", "world")), width=W, height=H)
    result = burn_one_frame(path, loglevel="verbose")
    assert result.returncode == 0, result.stderr
    assert "fontselect: (Lato Black, 400, 0) -> Lato-Black" in result.stderr


@pytest.mark.parametrize("color", ["#FF8000", "#00C0FF"])
def test_libass_draws_the_current_word_in_the_highlight_colour(tmp_path, color):
    path = tmp_path / "captions.ass"
    write_ass_file(path, captions=captions(evenly("HIGHLIGHT"), highlight_color=color), width=W, height=H)
    result = burn_one_frame(path, pixel_format="rgb24")
    assert result.returncode == 0, result.stderr
    wanted = bytes.fromhex(color[1:])
    pixels = [result.stdout[index : index + 3] for index in range(0, len(result.stdout), 3)]
    close = [pixel for pixel in pixels if all(abs(a - b) <= 8 for a, b in zip(pixel, wanted, strict=True))]
    assert len(close) > 200, f"no {color} text"


def test_filter_paths_survive_every_character_the_filter_graph_reads(tmp_path):
    folder = tmp_path / " it's: a, [weird]; dir\\ "
    folder.mkdir()
    path = folder / "captions.ass"
    write_ass_file(path, captions=captions(evenly("Hello")), width=W, height=H)
    result = burn_one_frame(path)
    assert result.returncode == 0, result.stderr


# --- Real local renders ----------------------------------------------------------------------------

# Two pages parted by a pause: "ONE TWO" (0.1 to 0.7 s), nothing until 1.3 s, then "THREE" (to 1.6 s).
SPOKEN = words(("one", 0.1, 0.4), ("two", 0.4, 0.7), ("three", 1.3, 1.6))
SPEC = {"trim_start": 0.5, "trim_end": 2.1, "aspect": "9:16", "layout": "fill", "title": ""}
# Rows of a 360x640 frame: the title (its top at 8%) and the bottom captions (their bottom edge at 75%).
TITLE_BAND = (0, round(0.22 * H))
CAPTION_BAND = (round(0.60 * H), round(0.80 * H))


@pytest.fixture
def small_preset(db):
    return make_preset(name="Vertical 360p", slug="vertical-360p", width=W, height=H, fps=30)


@pytest.fixture
def render(owner, ready_clip, small_preset, local_render_settings, work_dir):
    """`render(**props)`: render a job of the ready clip at 360x640 with the local backend; the MP4's path."""

    def run(**props) -> Path:
        job = make_job(owner, ready_clip, small_preset, props={**SPEC, **props})
        name = local_backend.render_job_locally(job, on_progress=lambda progress: True)
        return Path(job.output_file.storage.path(name))

    return run


def band(video: Path, at: float, rows: tuple[int, int]) -> bytes:
    """The frame at `at` seconds, rows `rows` of it, as 8-bit gray pixels."""
    top, bottom = rows
    crop = f"format=gray,crop={W}:{bottom - top}:0:{top}"
    result = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-ss", f"{at:.3f}", "-i", str(video),
         "-frames:v", "1", "-vf", crop, "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    assert len(result.stdout) == W * (bottom - top)
    return result.stdout


def changed(a: bytes, b: bytes) -> set[int]:
    """The pixels where two gray images clearly differ: text's glyphs and outline, never encoding noise."""
    return {index for index, (x, y) in enumerate(zip(a, b, strict=True)) if abs(x - y) > 48}


# A word of caption text at 360x640 changes 250 to 900 pixels; encoding noise none.
TEXT_PIXELS = 150
NOISE_PIXELS = 20


@pytest.mark.django_db
def test_captions_are_burned_in_at_their_words_and_gone_between_pages(render):
    plain = render()
    captioned = render(captions=captions(SPOKEN, style="karaoke", max_words=3))
    assert probe_video(captioned).width == W
    frames = {at: (band(plain, at, CAPTION_BAND), band(captioned, at, CAPTION_BAND)) for at in (0.25, 0.55, 1.0, 1.45)}
    for at in (0.25, 0.55, 1.45):
        assert len(changed(*frames[at])) > TEXT_PIXELS, f"no caption at {at} s"
    assert len(changed(*frames[1.0])) < NOISE_PIXELS, "a caption between the pages"
    first_page, second_page = changed(*frames[0.25]), changed(*frames[1.45])
    assert len(first_page ^ second_page) > 0.5 * len(first_page | second_page), "the same caption on both pages"
    # Within a page the words stay put; only the highlight moves from "one" to "two".
    one, two = changed(*frames[0.25]), changed(*frames[0.55])
    assert len(one & two) > 0.6 * len(one | two)
    assert band(captioned, 0.25, CAPTION_BAND) != band(captioned, 0.55, CAPTION_BAND)


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["pop", "subtitle"])
def test_every_style_burns_in_its_words(render, style):
    plain = render()
    captioned = render(captions=captions(SPOKEN, style=style))
    for at in (0.55, 1.45):
        assert len(changed(band(plain, at, CAPTION_BAND), band(captioned, at, CAPTION_BAND))) > TEXT_PIXELS, at
    assert len(changed(band(plain, 1.0, CAPTION_BAND), band(captioned, 1.0, CAPTION_BAND))) < NOISE_PIXELS


NASTY = [
    r"{\an8}gotcha",
    r"line\Nbreak",
    r"\h\h",
    '"quoted"',
    "it's",
    "100%",
    "%{pts}",
    "a:b:c",
    "🔥🔥",
    "[x];,y",
    "{",
    "}",
    "\\",
    "end.",
]


@pytest.mark.django_db
def test_a_transcript_full_of_markup_renders_as_plain_text(render, monkeypatch, tmp_path):
    written, commands = [], []
    real_write, real_run = local_backend.write_ass_file, local_backend._run

    def keep_ass_file(path, **kwargs):
        real_write(path, **kwargs)
        written.append(shutil.copy(path, tmp_path / "kept.ass"))

    def keep_command(command, **kwargs):
        commands.append(command)
        real_run(command, **kwargs)

    monkeypatch.setattr(local_backend, "write_ass_file", keep_ass_file)
    monkeypatch.setattr(local_backend, "_run", keep_command)
    spoken = words(*((text, index * 0.1, (index + 1) * 0.1) for index, text in enumerate(NASTY)))
    video = render(captions=captions(spoken, style="karaoke", max_words=6, uppercase=False))

    info = probe_video(video)
    assert (info.width, info.height) == (W, H)
    assert info.duration == pytest.approx(1.6, abs=0.2)
    subs = pysubs2.load(written[0], encoding="utf-8")
    shown = " ".join(event.plaintext for event in subs.events)
    assert "(/an8)gotcha" in shown
    assert "line/Nbreak" in shown
    assert "%(pts)" in shown
    assert "🔥" not in shown
    for event in subs.events:
        for fragment in pysubs2.SSAEvent.OVERRIDE_SEQUENCE.split(event.text):
            assert not set(fragment) & {"{", "}", "\\"}, fragment
    # The text reached ffmpeg only inside the .ass file, never through the filter graph.
    command = " ".join(commands[0])
    assert "gotcha" not in command
    assert "an8" not in command


@pytest.mark.django_db
def test_title_and_captions_are_both_legible(render):
    plain = render()
    both = render(title="Clutch 1v4", captions=captions(SPOKEN))
    at = 0.25
    assert len(changed(band(plain, at, TITLE_BAND), band(both, at, TITLE_BAND))) > TEXT_PIXELS, "no title"
    assert len(changed(band(plain, at, CAPTION_BAND), band(both, at, CAPTION_BAND))) > TEXT_PIXELS, "no captions"


@pytest.mark.django_db
def test_top_captions_keep_clear_of_the_title(render):
    title_only = render(title="Clutch 1v4")
    both = render(title="Clutch 1v4", captions=captions(SPOKEN, position="top"))
    at = 0.25
    # With a title, "top" captions start at 22% of the height: the rows above are the title's alone.
    title_rows = (0, round(0.22 * H))
    caption_rows = (round(0.22 * H), round(0.40 * H))
    assert local_backend.title_bottom(width=W, height=H) < title_rows[1]
    over_title = changed(band(title_only, at, title_rows), band(both, at, title_rows))
    assert len(over_title) < NOISE_PIXELS, "captions over the title"
    under_title = changed(band(title_only, at, caption_rows), band(both, at, caption_rows))
    assert len(under_title) > TEXT_PIXELS, "no captions under the title"
    assert len(changed(band(render(), at, title_rows), band(both, at, title_rows))) > TEXT_PIXELS, "no title"


def test_a_render_without_captions_has_no_ass_filter(tmp_path):
    command = local_backend.ffmpeg_command(
        source=tmp_path / "in.mp4", output=tmp_path / "out.mp4", props=SPEC, width=W, height=H, fps=30,
        title_file=tmp_path / "title.txt",
    )  # fmt: skip
    assert "ass=" not in " ".join(command)


def test_the_stills_command_writes_a_small_png_per_style(tmp_path):
    call_command("caption_stills", output_dir=tmp_path, stdout=io.StringIO())
    for style in CAPTION_STYLES:
        still = tmp_path / f"{style}.png"
        assert still.read_bytes().startswith(b"\x89PNG")
        assert still.stat().st_size < 60_000
