"""The layout spec (a render job's input props) and what it means in pixels.

A spec, as stored on the job and sent to Remotion:

    {"trim_start": 3.0, "trim_end": 33.0, "aspect": "9:16", "layout": "split",
     "facecam": {"x": 0.7, "y": 0.0, "width": 0.3, "height": 0.3},
     "gameplay": {"x": 0.0, "y": 0.0, "width": 1.0, "height": 1.0},
     "facecam_share": 0.35, "title": "Clutch!"}

Rectangles are normalised to the source frame (0 to 1). `facecam`, `gameplay` and
`facecam_share` belong to `split` only.
"""

from dataclasses import dataclass

ASPECTS = {"9:16": (9, 16), "1:1": (1, 1), "4:5": (4, 5), "16:9": (16, 9)}
LAYOUTS = ("fill", "fit_blur", "split", "portrait")
# Not a layout of its own: the server replaces it with the clip's detected layout.
AUTO_LAYOUT = "auto"
TITLE_MAX_LENGTH = 80


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float

    @classmethod
    def from_spec(cls, spec: dict) -> "Rect":
        return cls(x=spec["x"], y=spec["y"], width=spec["width"], height=spec["height"])


def output_size(*, preset_width: int, preset_height: int, aspect: str) -> tuple[int, int]:
    """The output frame for an aspect, keeping the preset's short side (1080 for a 1080x1920 preset)."""
    short_side = min(preset_width, preset_height)
    aspect_w, aspect_h = ASPECTS[aspect]
    if aspect_w <= aspect_h:
        return even(short_side), even(short_side * aspect_h / aspect_w)
    return even(short_side * aspect_w / aspect_h), even(short_side)


def even(value: float) -> int:
    # H.264 with yuv420p needs even dimensions.
    return max(2, round(value / 2) * 2)
