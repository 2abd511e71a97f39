"""Labelled clips for layout detection, generated at test time (nothing large is committed).

Each clip is a "gameplay" background from ffmpeg's lavfi generators with moving objects over it, and
optionally a facecam: a real face photograph (scikit-image's astronaut, no network) cropped to head and
shoulders, with the person moving and scaling a little over a static room, placed in a corner or along
an edge, with or without a border and rounded corners. Negatives have no camera; "full frame" clips are
the camera alone (a "just chatting" stream). Every clip comes with its ground truth.
"""

import functools
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from clips.media import H264_MP4_OUTPUT, ffmpeg_path, ffmpeg_quiet

WIDTH, HEIGHT, RATE = 640, 360, 25
# The camera layer changes more slowly than the video: the person moves smoothly, and fewer raw frames
# go through the pipe.
CAMERA_RATE = 10
PLACEMENTS = ("top-left", "top-right", "bottom-left", "bottom-right", "left", "right", "top", "bottom")
# Where the astronaut's face is in the 512x512 photograph (OpenCV's frontal cascade finds it there).
FACE_CENTRE = (224.0, 113.0)
FACE_SIZE = 95.0


def _background(name: str, seconds: float, seed: int, width: int, height: int) -> str:
    """A lavfi source chain for a gameplay-like background of width x height."""
    size, d = f"{width}x{height}", f"{seconds}"
    sources = {
        "testsrc2": f"testsrc2=s={size}:r={RATE}:d={d}",
        # Rendered small: the fractal is slow at full size.
        "mandelbrot": f"mandelbrot=s={width // 2}x{height // 2}:r={RATE}:end_pts={int(seconds * RATE)}:end_scale=0.02,"
        f"trim=duration={d},scale={size}",
        "sierpinski": f"sierpinski=s={size}:r={RATE}:type=carpet:seed={seed}:jump=3,trim=duration={d}",
        "cellauto": f"cellauto=s={size}:r={RATE}:rule=30:random_fill_ratio=0.4:seed={seed}:scroll=1,"
        f"trim=duration={d},format=rgb24,colorchannelmixer=rr=0.2:gg=0.8:bb=0.6",
        "life": f"life=s={width // 4}x{height // 4}:r={RATE}:mold=10:ratio=0.3:seed={seed}:life_color=#ffcc00:"
        f"death_color=#1e3c64:mold_color=#6a1b9a,scale={size}:flags=neighbor,trim=duration={d}",
        "gradients": f"gradients=s={size}:r={RATE}:n=5:speed=0.05:seed={seed}:d={d}",
        "bars": f"smptehdbars=s={size}:r={RATE}:d={d},scroll=h=0.004:v=0.002,noise=alls=12:allf=t",
    }
    return sources[name]


BACKGROUNDS = ("testsrc2", "mandelbrot", "sierpinski", "cellauto", "life", "gradients", "bars")


@dataclass(frozen=True)
class LayoutCase:
    """One clip to generate. `placement` None means no overlay camera."""

    name: str
    background: str = "testsrc2"
    placement: str | None = "top-right"
    cam_width: float = 0.25  # share of the frame's width
    cam_aspect: float = 16 / 9
    margin: int = 0  # pixels between the camera and the frame's edges
    border: int = 0  # pixels
    border_colour: tuple[int, int, int] = (145, 70, 255)
    rounded: int = 0  # corner radius in pixels
    absent: tuple[float, float] | None = None  # seconds when the streamer has left
    full_frame: bool = False
    mirrored: bool = False
    distractor: bool = False  # a static, bordered "minimap" without a face
    seconds: float = 6.0
    seed: int = 1
    width: int = WIDTH
    height: int = HEIGHT
    keyframe_seconds: float | None = None  # None: the encoder's default (every 10 s at 25 fps)

    @property
    def scale(self) -> float:
        """Pixel sizes (margins, borders, radii) are given for a 640-wide frame."""
        return self.width / WIDTH


@dataclass(frozen=True)
class LayoutTruth:
    """What detection should say: the layout, the facecam (normalised) for split, the face for fill."""

    layout: str
    facecam: dict | None = None
    focus: dict | None = None


@functools.cache
def _astronaut() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The photograph, the same room without the person (inpainted), and a soft mask of the person."""
    from skimage import data  # a test-only dependency (requirements-dev.txt)

    photo = np.ascontiguousarray(data.astronaut())
    mask = np.zeros(photo.shape[:2], np.uint8)
    cv2.ellipse(mask, (224, 105), (72, 95), 0, 0, 360, 255, -1)
    cv2.fillPoly(mask, [np.array([[150, 160], [300, 160], [380, 512], [10, 512]], np.int32)], 255)
    # Inpainting at half size is quick and a blurry room is all the plate needs to be.
    small = cv2.resize(photo, (256, 256), interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask, (256, 256), interpolation=cv2.INTER_NEAREST)
    plate = cv2.resize(cv2.inpaint(small, small_mask, 6, cv2.INPAINT_TELEA), (512, 512))
    soft = cv2.GaussianBlur(mask, (0, 0), 6).astype(np.float32)[..., None] / 255.0
    return photo, plate, soft


def _crop_matrix(out_w: int, out_h: int, crop_w: float, centre: tuple[float, float]) -> np.ndarray:
    """The affine map from output pixels to a crop of the photograph, crop_w wide, centred on centre."""
    scale = crop_w / out_w
    cx, cy = centre
    return np.array([[scale, 0, cx - scale * out_w / 2], [0, scale, cy - scale * out_h / 2]], np.float64)


def _warp(image: np.ndarray, matrix: np.ndarray, w: int, h: int, border: int = cv2.BORDER_REFLECT) -> np.ndarray:
    # Shrink first when the crop is much larger than the output: bilinear warping alone would alias.
    shrink = matrix[0, 0] / 1.2
    if shrink > 1:
        size = (round(image.shape[1] / shrink), round(image.shape[0] / shrink))
        image, matrix = cv2.resize(image, size, interpolation=cv2.INTER_AREA), matrix / shrink
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR, borderMode=border)


def _camera_frames(case: LayoutCase, out_w: int, out_h: int) -> tuple[Iterator[np.ndarray], list[tuple[float, float]]]:
    """The camera's RGB frames (made as they are read) and, per frame, where the face centre is in them
    (pixels; NaN while the streamer is away)."""
    photo, plate, soft = _astronaut()
    rng = np.random.default_rng(case.seed)
    phases = rng.uniform(0, 2 * np.pi, 3)
    # Head and shoulders: the face takes about a third of the camera's width, less for a full frame.
    crop_w = FACE_SIZE * (5.2 if case.full_frame else 2.9)
    crop_h = crop_w * out_h / out_w
    centre = (FACE_CENTRE[0] + rng.uniform(-0.08, 0.08) * crop_w, FACE_CENTRE[1] + 0.12 * crop_h)
    room = _warp(plate, _crop_matrix(out_w, out_h, crop_w, centre), out_w, out_h)
    matrices, faces = [], []
    for index in range(int(case.seconds * CAMERA_RATE)):
        t = index / CAMERA_RATE
        # The person sways and leans a little: up to 7% of the crop sideways, 4% up and down, 6% closer.
        dx = 0.07 * crop_w * np.sin(2 * np.pi * t / 3.1 + phases[0])
        dy = 0.04 * crop_h * np.sin(2 * np.pi * t / 2.3 + phases[1])
        zoom = 1 + 0.06 * np.sin(2 * np.pi * t / 4.7 + phases[2])
        matrix = _crop_matrix(out_w, out_h, crop_w / zoom, (centre[0] - dx / zoom, centre[1] - dy / zoom))
        if case.absent is not None and case.absent[0] <= t < case.absent[1]:
            matrices.append(None)
            faces.append((float("nan"), float("nan")))
            continue
        matrices.append(matrix)
        x, y = cv2.invertAffineTransform(matrix) @ np.array([*FACE_CENTRE, 1.0])
        faces.append((out_w - 1 - x if case.mirrored else x, y))

    def frames() -> Iterator[np.ndarray]:
        for matrix in matrices:
            if matrix is None:
                frame = room
            else:
                person = _warp(photo, matrix, out_w, out_h)
                alpha = _warp(soft, matrix, out_w, out_h, border=cv2.BORDER_CONSTANT)[..., None]
                frame = (person * alpha + room * (1 - alpha)).astype(np.uint8)
            yield np.ascontiguousarray(frame[:, ::-1] if case.mirrored else frame)

    return frames(), faces


def _decorate(frames: Iterator[np.ndarray], case: LayoutCase, w: int, h: int) -> Iterator[bytes]:
    """RGBA camera frames with the case's border and rounded corners, as raw bytes."""
    alpha = np.zeros((h, w), np.uint8)
    radius, border = round(case.rounded * case.scale), round(case.border * case.scale)
    _rounded_rect(alpha, 0, 0, w, h, radius)
    inner = np.zeros((h, w), np.uint8)
    _rounded_rect(inner, border, border, w - border, h - border, max(0, radius - border))
    outline = (alpha > 0) & (inner == 0)
    for frame in frames:
        rgba = np.dstack([frame, alpha])
        rgba[outline, :3] = case.border_colour
        yield rgba.tobytes()


def _rounded_rect(mask: np.ndarray, x0: int, y0: int, x1: int, y1: int, r: int) -> None:
    if r <= 0:
        mask[y0:y1, x0:x1] = 255
        return
    cv2.rectangle(mask, (x0 + r, y0), (x1 - 1 - r, y1 - 1), 255, -1)
    cv2.rectangle(mask, (x0, y0 + r), (x1 - 1, y1 - 1 - r), 255, -1)
    for cx, cy in ((x0 + r, y0 + r), (x1 - 1 - r, y0 + r), (x0 + r, y1 - 1 - r), (x1 - 1 - r, y1 - 1 - r)):
        cv2.circle(mask, (cx, cy), r, 255, -1)


def _position(case: LayoutCase, cam_w: int, cam_h: int) -> tuple[int, int]:
    m = round(case.margin * case.scale)
    right, bottom = case.width - cam_w - m, case.height - cam_h - m
    middle_x, middle_y = (case.width - cam_w) // 2 // 2 * 2, (case.height - cam_h) // 2 // 2 * 2
    return {
        "top-left": (m, m),
        "top-right": (right, m),
        "bottom-left": (m, bottom),
        "bottom-right": (right, bottom),
        "left": (m, middle_y),
        "right": (right, middle_y),
        "top": (middle_x, m),
        "bottom": (middle_x, bottom),
    }[case.placement]


def _movers(case: LayoutCase) -> tuple[list[str], str]:
    """Extra moving objects over the background, so that every part of the "gameplay" changes."""
    rng = np.random.default_rng(case.seed + 100)
    vx, vy = rng.uniform(90, 160, 2) * case.scale
    big, small = round(64 * case.scale) * 2, round(36 * case.scale) * 2
    sources = [
        f"testsrc=s={big}x{big * 3 // 4 // 2 * 2}:r={RATE}:d={case.seconds}",
        f"color=c=0x{rng.integers(0x303030, 0xFFFFFF):06x}:s={small}x{small}:r={RATE}:d={case.seconds}",
    ]
    chain = (
        f"[bg][m0]overlay=x='mod(t*{vx:.0f},W+w)-w':y='(H-h)/2+H/3*sin(t*1.7)'[b1];"
        f"[b1][m1]overlay=x='W/2+W/2.5*sin(t*1.3)-w/2':y='mod(t*{vy:.0f},H+h)-h'[game]"
    )
    return sources, chain


def make_layout_clip(case: LayoutCase, path: Path) -> LayoutTruth:
    """Encode the case's clip to path (H.264 MP4 with a tone) and return its ground truth."""
    if case.full_frame:
        return _make_full_frame(case, path)
    sources, chain = _movers(case)
    filters = [f"{_background(case.background, case.seconds, case.seed, case.width, case.height)},format=rgb24[bg]"]
    filters += [f"{source}[m{index}]" for index, source in enumerate(sources)]
    filters.append(chain)
    last = "game"
    if case.distractor:
        # A static "minimap": a bordered box with fixed content, in the bottom-left corner.
        k = case.scale
        box = f"x={16 * k:.0f}:y=ih-{120 * k:.0f}:w={150 * k:.0f}:h={104 * k:.0f}"
        filters.append(
            f"[{last}]drawbox={box}:color=0x202830@1:t=fill,drawbox={box}:color=white@1:t={3 * k:.0f},"
            f"drawbox=x={60 * k:.0f}:y=ih-{90 * k:.0f}:w={40 * k:.0f}:h={30 * k:.0f}:color=0x50c050@1:t=fill[dis]"
        )
        last = "dis"
    if case.placement is None:
        _encode(path, case, [], ";".join(filters), last, iter(()))
        return LayoutTruth(layout="fit_blur")
    cam_w = round(case.width * case.cam_width / 2) * 2
    cam_h = round(cam_w / case.cam_aspect / 2) * 2
    x, y = _position(case, cam_w, cam_h)
    frames, _ = _camera_frames(case, cam_w, cam_h)
    inputs = ["-f", "rawvideo", "-pix_fmt", "rgba", "-s", f"{cam_w}x{cam_h}", "-r", str(CAMERA_RATE), "-i", "-"]
    filters.append(f"[{last}][0:v]overlay={x}:{y}:eof_action=repeat[cam]")
    _encode(path, case, inputs, ";".join(filters), "cam", _decorate(frames, case, cam_w, cam_h))
    w, h = case.width, case.height
    return LayoutTruth(layout="split", facecam={"x": x / w, "y": y / h, "width": cam_w / w, "height": cam_h / h})


def _make_full_frame(case: LayoutCase, path: Path) -> LayoutTruth:
    frames, faces = _camera_frames(case, case.width, case.height)
    inputs = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{case.width}x{case.height}"]
    inputs += ["-r", str(CAMERA_RATE), "-i", "-"]
    _encode(path, case, inputs, f"[0:v]fps={RATE}[cam]", "cam", (frame.tobytes() for frame in frames))
    centres = np.array([face for face in faces if not np.isnan(face[0])])
    focus = {"x": float(centres[:, 0].mean()) / case.width, "y": float(centres[:, 1].mean()) / case.height}
    return LayoutTruth(layout="fill", focus=focus)


def _encode(path: Path, case: LayoutCase, inputs: list[str], graph: str, output: str, raw: Iterator[bytes]) -> None:
    """Run ffmpeg on the filter graph, writing the raw camera frames to its input as they are made."""
    keyframes = ["-g", str(round(case.keyframe_seconds * RATE))] if case.keyframe_seconds else []
    command = [
        ffmpeg_path(),
        "-hide_banner",
        "-loglevel",
        "error",
        *inputs,
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=220:duration={case.seconds}",
        "-filter_complex",
        graph,
        "-map",
        f"[{output}]",
        "-map",
        f"{1 if inputs else 0}:a",
        "-t",
        str(case.seconds),
        "-r",
        str(RATE),
        *H264_MP4_OUTPUT,
        *keyframes,
        "-y",
        str(path),
    ]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdin=subprocess.PIPE if inputs else subprocess.DEVNULL, stderr=errors)
        try:
            if inputs:
                for chunk in raw:
                    process.stdin.write(chunk)
                process.stdin.close()
            code = process.wait(timeout=600)
        except BaseException:
            process.kill()
            process.wait()
            raise
        if code != 0:
            errors.seek(0)
            raise RuntimeError(f"ffmpeg failed: {errors.read().decode(errors='replace')[-500:]}")


def make_audio_only(path: Path, seconds: float = 2.0) -> Path:
    subprocess.run(
        [
            *ffmpeg_quiet(),
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:duration={seconds}",
            "-c:a",
            "aac",
            "-y",
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path


def iou(a: dict, b: dict) -> float:
    """Intersection over union of two normalised rectangles."""
    x0, y0 = max(a["x"], b["x"]), max(a["y"], b["y"])
    x1 = min(a["x"] + a["width"], b["x"] + b["width"])
    y1 = min(a["y"] + a["height"], b["y"] + b["height"])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a["width"] * a["height"] + b["width"] * b["height"] - inter
    return inter / union if union > 0 else 0.0


def facecam_cases(count: int = 24, variant: int = 0) -> list[LayoutCase]:
    """Clips with a facecam: every placement, sizes from 10% to 40% of the width, borders, rounded corners,
    margins, both camera aspects, the streamer away for a while, a static minimap, every background.
    Another `variant` combines them differently, with other motion and colours."""
    sizes = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.12, 0.35)
    borders = (0, 4, 0, 2, 6, 0)
    cases = []
    for number in range(count):
        index = number + 5 * variant
        cases.append(
            LayoutCase(
                name=f"cam-{variant}-{number:02d}-{PLACEMENTS[number % 8]}",
                background=BACKGROUNDS[index % len(BACKGROUNDS)],
                placement=PLACEMENTS[number % 8],
                cam_width=sizes[(index // 8 + index * 3) % len(sizes)],
                cam_aspect=(16 / 9, 4 / 3)[index % 3 == 2],
                margin=(0, 0, 8, 16)[index % 4 if index % 5 else 0],
                border=borders[index % len(borders)],
                border_colour=((145, 70, 255), (255, 255, 255), (20, 20, 20))[index % 3],
                rounded=(0, 0, 14)[index % 3],
                absent=(2.0, 4.0) if index % 7 == 3 else None,
                mirrored=index % 2 == 1,
                distractor=index % 6 == 5,
                seed=1000 * variant + number + 1,
            )
        )
    return cases


def no_camera_cases(count: int = 10, variant: int = 0) -> list[LayoutCase]:
    return [
        LayoutCase(
            name=f"none-{variant}-{number:02d}",
            background=BACKGROUNDS[(number + variant) % len(BACKGROUNDS)],
            placement=None,
            distractor=number % 3 == 1,
            seed=1000 * variant + 50 + number,
        )
        for number in range(count)
    ]


def full_frame_cases(count: int = 4, variant: int = 0) -> list[LayoutCase]:
    return [
        LayoutCase(
            name=f"full-{variant}-{number}",
            placement=None,
            full_frame=True,
            mirrored=number % 2 == 1,
            absent=(3.0, 4.5) if number == 2 else None,
            seed=1000 * variant + 80 + number,
        )
        for number in range(count)
    ]
