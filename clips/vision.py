"""Find the streamer's facecam overlay in a clip and suggest a vertical layout. Pure functions, no models.

detect_layout(path) returns, in coordinates normalised to the source frame and rounded to 4 decimals:

    {"layout": "split" | "fill" | "fit_blur", "facecam": rect | None, "gameplay": rect,
     "focus": {"x", "y"} | None, "confidence": 0-1}

How: about 1.5 frames a second are sampled at 640 px wide (at most 60; keyframes only for long HD clips).
OpenCV's bundled Haar cascades find where a face is in most frames (frontal, and profile both ways). Around
that face, each side of the overlay is the line where an edge persists across the samples while the
gameplay beyond it changes (or the frame's edge); candidate sides are combined into rectangles, scored
along their real extents with a prior on a facecam's shape. No overlay around a large face: the camera is
the picture, `fill` with `focus` on the face. No face most of the time: `fit_blur`.

`gameplay` (split only; the full frame otherwise) is the full frame, unless the centred crop the split's
gameplay panel keeps (9:16 at facecam_share 0.35 keeps a 0.86:1 window) would show the facecam; then it
is the frame without the facecam's strip along the edge the facecam sits on: below a facecam at the top
centre, beside one that covers the side. A small corner facecam lies outside that window and the gameplay
keeps the whole frame. `confidence` is the share of sampled frames with the face, times the strength of
the overlay's sides (split), or that share alone (fill), or one minus it (fit_blur).
"""

import itertools
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from clips.media import NotAVideo, ffmpeg_quiet, probe_video

DECODE_TIMEOUT_SECONDS = 120
# Decoding every frame of a long 1080p clip costs several seconds of CPU; its keyframes alone cost a tenth
# of that, and Twitch clips have one every two seconds. Above this many pixels to decode (width x height x
# seconds, at 30 fps), keyframes are tried first, and taken when there are at least MIN_KEYFRAMES of them.
KEYFRAMES_ABOVE_PIXELS = 1280 * 720 * 30 * 20
MIN_KEYFRAMES = 12
DECODE_PARTS = 2
SPLIT_ABOVE_SECONDS = 20  # shorter clips decode in one go: a second ffmpeg costs more than it saves


def sample_frames(
    path: Path | str, *, per_second: float = 1.5, width: int = 320, max_frames: int = 60
) -> tuple[np.ndarray, float]:
    """RGB frames sampled across the clip (N x H x W x 3, `width` wide) and the source's aspect (w / h).

    About `per_second` frames a second, at most `max_frames` (a long clip is sampled more sparsely).
    Raises NotAVideo when the file has no video stream ffmpeg can decode.
    """
    info = probe_video(path)
    height = max(2, round(width * info.height / info.width / 2) * 2)
    wanted = max(1, min(max_frames, round(info.duration * per_second)))
    rate = wanted / max(info.duration, 1e-3)
    # Skipping non-reference frames halves decoding; some codecs might drop everything that way, hence the
    # plain decode last.
    attempts = ["noref", None]
    if info.width * info.height * info.duration * 30 > KEYFRAMES_ABOVE_PIXELS:
        attempts.insert(0, "nokey")
    for skip in attempts:
        frames = _decode(path, width, height, rate, skip=skip, duration=info.duration)
        if len(frames) >= (min(wanted, MIN_KEYFRAMES) if skip == "nokey" else 1):
            break
    else:
        raise NotAVideo("No video frame could be decoded.")
    if len(frames) > max_frames:
        frames = frames[np.linspace(0, len(frames) - 1, max_frames).round().astype(int)]
    return frames, info.width / info.height


def _decode(path: Path | str, width: int, height: int, rate: float, *, skip: str | None, duration: float) -> np.ndarray:
    """Sampled frames, decoded by ffmpeg. The decoder runs on one core when it skips frames, so a long clip
    is decoded in parts at once, one ffmpeg each (a worker has two cores)."""
    parts = DECODE_PARTS if duration >= SPLIT_ABOVE_SECONDS else 1
    if parts == 1:
        return _decode_part(path, width, height, rate, skip=skip, window=[])
    length = duration / parts
    windows = [["-ss", f"{index * length:.3f}", "-t", f"{length:.3f}"] for index in range(parts)]
    with ThreadPoolExecutor(max_workers=parts) as pool:
        decoded = pool.map(lambda window: _decode_part(path, width, height, rate, skip=skip, window=window), windows)
        return np.concatenate(list(decoded))


def _decode_part(
    path: Path | str, width: int, height: int, rate: float, *, skip: str | None, window: list[str]
) -> np.ndarray:
    # Skipping the loop filter speeds decoding up by a fifth; its artefacts don't matter at this size.
    decode = ["-skip_loop_filter", "all"] + (["-skip_frame", skip] if skip else [])
    if skip == "nokey":
        # Keyframes come at their own times: keep those at least a sampling interval apart, no duplicates.
        sampling = f"select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,{0.9 / rate:.4f})'"
    else:
        sampling = f"fps={rate:.6f}"
    command = [
        *ffmpeg_quiet(),
        *decode,
        *window,
        "-i",
        str(path),
        "-map",
        "0:v:0",
        "-vf",
        f"{sampling},scale={width}:{height}:flags=area",
        "-fps_mode",
        "passthrough",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]
    try:
        result = subprocess.run(command, capture_output=True, timeout=DECODE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as exc:
        raise NotAVideo("The video could not be decoded in time.") from exc
    frame_bytes = width * height * 3
    count = len(result.stdout) // frame_bytes
    return np.frombuffer(result.stdout[: count * frame_bytes], np.uint8).reshape(count, height, width, 3)


# --- Detection -------------------------------------------------------------------------------------

ANALYSIS_WIDTH = 640
FACE_FRAMES = 16  # faces are looked for in this many evenly spaced frames at most
DISCOVERY_FRAMES = 3  # ...and small ones across the whole frame in only this many (the costly part)
MAX_FACE_CANDIDATES = 4
FACE_NEIGHBOURS = 3  # overlapping detections a face needs: fewer find more faces, and more stray ones
EDGE_STEP = 18  # a colour step (0-255, any channel) that counts as an edge in a frame
STRIP = 4  # pixels outside a candidate side whose activity counts
FRAME_EDGE_SCORE = 0.35  # a side at the frame's edge wins unless a boundary inside scores more
STATIC_OUTSIDE = 0.3  # the weight of a persistent edge with calm pixels outside it (a HUD, or the room)
MIN_SIDE_SCORE = 0.15  # weaker positions are not candidates for a side
SIDE_CANDIDATES = 4  # per side, besides the frame's edge: at most 5 x 5 x 5 x 5 rectangles are scored
SNAP_DISTANCE = 0.02  # of the frame's width: borders are thinner than this
CHANCE_COVERAGE = 0.25  # the share of frames a moving edge happens to cover a line in busy gameplay
ACTIVITY_SCALE = 4.0  # mean change between samples (0-255) at which a strip counts as half active
MIN_FACE_SUPPORT = 0.5  # a camera shows a face in at least this share of the frames looked at
MIN_FULL_FRAME_FACE = 0.06  # of the frame's width: a streamer filling the picture has a big face
MAX_FACECAM_AREA = 0.5  # an "overlay" larger than half the frame is the whole picture
EDGE_NEAR = 0.05  # a facecam this close to the frame's edge sits on it
MIN_GAMEPLAY_AREA = 0.45  # gameplay without the facecam's strip keeps at least this much of the frame
GAMEPLAY_PANEL_ASPECT = 9 / (16 * (1 - 0.35))  # the split's gameplay panel at the default facecam_share


def detect_layout(path: Path | str) -> dict:
    """Suggest a vertical layout for a clip: `split` around a facecam overlay, `fill` on a full-frame
    camera (with `focus` on the face), or `fit_blur` for gameplay without a camera.

    Returns {"layout", "facecam", "gameplay", "focus", "confidence"}, rectangles normalised to 0-1.
    Raises NotAVideo for files without a decodable video stream.
    """
    frames, aspect = sample_frames(path, width=ANALYSIS_WIDTH)
    box, support = _face_track(frames)
    if box is None:
        # Sure there is no camera when no frame had a face there; less so when one came and went.
        return _suggestion("fit_blur", confidence=1.0 - support)
    maps = _structure(frames)
    rect, boundary = _facecam_rect(maps, box)
    return _decide(rect, boundary, box, support, frames.shape[2], frames.shape[1], aspect)


_per_thread = threading.local()


def _cascades() -> tuple:
    """The frontal and profile face cascades, loaded once per thread (a classifier is not safe to share).
    OpenCV's wheels ship them; nothing is downloaded."""
    if not hasattr(_per_thread, "cascades"):
        _per_thread.cascades = tuple(
            cv2.CascadeClassifier(cv2.data.haarcascades + name)
            for name in ("haarcascade_frontalface_alt2.xml", "haarcascade_profileface.xml")
        )
    return _per_thread.cascades


def _face_track(frames: np.ndarray) -> tuple[np.ndarray | None, float]:
    """Where a face is most of the time: its median box (x0, y0, x1, y1 pixels) and the share of frames
    with a face there; (None, that share) when no place holds one in MIN_FACE_SUPPORT of them.

    Scanning whole frames for small faces is the costly part, so it is done on a few of them (and on their
    median, where a facecam stays sharp and gameplay blurs away); each place found is then checked in every
    sampled frame by scanning only around it, at sizes near the face's.
    """
    picks = np.unique(np.linspace(0, len(frames) - 1, min(FACE_FRAMES, len(frames))).round().astype(int))
    grays = [cv2.cvtColor(frames[index], cv2.COLOR_RGB2GRAY) for index in picks]
    found = _discover_faces(grays, frames[picks])
    best_boxes: list[np.ndarray] = []
    for candidate in _merge_boxes(found)[:MAX_FACE_CANDIDATES]:
        boxes = [box for gray in grays if (box := _face_near(gray, candidate)) is not None]
        if len(boxes) > len(best_boxes):
            best_boxes = boxes
    support = len(best_boxes) / len(grays)
    if support < MIN_FACE_SUPPORT:
        return None, support
    # The typical face, not the span of all: a streamer leaning out for a moment must not move the sides.
    return np.median(np.array(best_boxes), axis=0), support


def _discover_faces(grays: list[np.ndarray], frames: np.ndarray) -> list[np.ndarray]:
    frontal, profile = _cascades()
    height, width = grays[0].shape
    boxes = []
    # Large faces (a full-frame camera, a big facecam) at half size in every frame: cheap.
    for gray in grays:
        small = cv2.resize(gray, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
        boxes += [box * 2 for box in _detect(frontal, small, 1.1, (20, 20))]
    # Small faces at full size in a few frames and in the median frame, which also gets the profile cascade
    # (both ways) for a streamer who mostly looks aside.
    median = cv2.cvtColor(np.median(frames, axis=0).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    for index in np.unique(np.linspace(0, len(grays) - 1, min(DISCOVERY_FRAMES, len(grays))).round().astype(int)):
        boxes += _detect(frontal, grays[index], 1.1, (18, 18))
    boxes += _detect(frontal, median, 1.1, (18, 18)) + _detect(profile, median, 1.1, (18, 18))
    boxes += [_mirror(box, width) for box in _detect(profile, np.ascontiguousarray(median[:, ::-1]), 1.1, (18, 18))]
    return boxes


def _face_near(gray: np.ndarray, candidate: np.ndarray) -> np.ndarray | None:
    """The face in this frame near a candidate box (twice its size around it), frontal or in profile."""
    frontal, profile = _cascades()
    height, width = gray.shape
    size = float(candidate[2] - candidate[0])
    x0, y0 = np.maximum(candidate[:2] - size, 0).astype(int)
    x1, y1 = np.minimum(candidate[2:] + size, (width, height)).astype(int)
    region = np.ascontiguousarray(gray[y0:y1, x0:x1])
    sizes = (max(16, int(size * 0.6)),) * 2, (int(size * 1.6) + 1,) * 2
    for cascade, flip in ((frontal, False), (profile, False), (profile, True)):
        image = np.ascontiguousarray(region[:, ::-1]) if flip else region
        boxes = _detect(cascade, image, 1.1, sizes[0], sizes[1])
        if boxes:
            box = max(boxes, key=lambda b: b[2] - b[0])
            box = _mirror(box, region.shape[1]) if flip else box
            return box + np.array([x0, y0, x0, y0], np.float32)
    return None


def _detect(cascade, gray: np.ndarray, scale: float, min_size, max_size=None) -> list[np.ndarray]:
    if gray.shape[0] < min_size[1] or gray.shape[1] < min_size[0]:
        return []
    options = {"scaleFactor": scale, "minNeighbors": FACE_NEIGHBOURS, "minSize": min_size}
    if max_size is not None:
        options["maxSize"] = max_size
    return [np.array([x, y, x + w, y + h], np.float32) for x, y, w, h in cascade.detectMultiScale(gray, **options)]


def _mirror(box: np.ndarray, width: int) -> np.ndarray:
    return np.array([width - box[2], box[1], width - box[0], box[3]], np.float32)


def _merge_boxes(boxes: list[np.ndarray]) -> list[np.ndarray]:
    """Distinct places among detections, the most often found first."""
    places: list[list[np.ndarray]] = []
    for box in boxes:
        for place in places:
            if _box_iou(place[0], box) > 0.3:
                place.append(box)
                break
        else:
            places.append([box])
    places.sort(key=len, reverse=True)
    return [np.median(np.array(place), axis=0) for place in places]


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
    union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
    return float(inter / union) if union > 0 else 0.0


def _structure(frames: np.ndarray) -> dict:
    """Per-pixel evidence over the sampled frames: how often an edge sits at each vertical (pv) and
    horizontal (ph) boundary between pixels, and how much each pixel changes between samples (activity).
    An overlay's outline keeps its edges in every frame while gameplay edges move; gameplay is active."""
    count, height, width, _ = frames.shape
    pv = np.zeros((height, width + 1), np.float32)
    ph = np.zeros((height + 1, width), np.float32)
    activity = np.zeros((height, width), np.float32)
    previous = None
    for frame in frames:
        pv[:, 1:width] += _edges(cv2.absdiff(frame[:, 1:], frame[:, :-1]))
        ph[1:height, :] += _edges(cv2.absdiff(frame[1:], frame[:-1]))
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if previous is not None:
            activity += cv2.absdiff(gray, previous)
        previous = gray
    # A blurred outline (a downscaled 1080p frame) spreads its step over two boundaries: take the nearby best.
    pv = cv2.dilate(pv / count, np.ones((1, 3), np.uint8))
    ph = cv2.dilate(ph / count, np.ones((3, 1), np.uint8))
    return {
        "pv": np.cumsum(np.vstack([np.zeros((1, width + 1), np.float32), pv]), axis=0),
        "ph": np.cumsum(np.hstack([np.zeros((height + 1, 1), np.float32), ph]), axis=1),
        "activity": cv2.integral(activity / max(1, count - 1), sdepth=cv2.CV_64F),
        "size": (width, height),
    }


def _edges(difference: np.ndarray) -> np.ndarray:
    # The largest step of any colour channel: an outline can differ from gameplay in hue only.
    step = np.maximum(np.maximum(difference[..., 0], difference[..., 1]), difference[..., 2])
    return (step > EDGE_STEP).astype(np.float32)


def _facecam_rect(maps: dict, box: np.ndarray) -> tuple[tuple[int, int, int, int], list[float]]:
    """The overlay around a face, as (left, top, right, bottom) pixels and the score of each side.

    Each side is a boundary, outward from the face, along which an edge persists in most frames with
    changing gameplay outside it, or the frame's own edge. A few candidates per side come from a band
    through the face; every combination is then scored along its real extents, with a prior on shape.
    """
    width, height = maps["size"]
    # The typical face is inside the camera.
    x0, y0 = np.floor(box[:2]).astype(int)
    x1, y1 = np.ceil(box[2:]).astype(int)
    candidates = [
        _candidates(maps, "pv", np.arange(0, x0 + 1), (y0, y1), -1),
        _candidates(maps, "pv", np.arange(x1, width + 1), (y0, y1), +1),
        _candidates(maps, "ph", np.arange(0, y0 + 1), (x0, x1), -1),
        _candidates(maps, "ph", np.arange(y1, height + 1), (x0, x1), +1),
    ]
    face_width = float(box[2] - box[0])
    best, best_score, best_sides = (0, 0, width, height), -1.0, [FRAME_EDGE_SCORE] * 4
    for left, right, top, bottom in itertools.product(*candidates):
        sides = [
            _side_scores(maps, "pv", np.array([left]), (top, bottom), -1)[0],
            _side_scores(maps, "pv", np.array([right]), (top, bottom), +1)[0],
            _side_scores(maps, "ph", np.array([top]), (left, right), -1)[0],
            _side_scores(maps, "ph", np.array([bottom]), (left, right), +1)[0],
        ]
        score = float(np.mean(sides)) * _shape_prior(right - left, bottom - top, face_width)
        if score > best_score:
            best, best_score, best_sides = (left, top, right, bottom), score, sides
    return _snap_to_frame(maps, best), [float(side) for side in best_sides]


def _snap_to_frame(maps: dict, rect: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """A side a few pixels from the frame's edge with nothing changing beyond it is the inner edge of the
    overlay's border: the overlay reaches the frame's edge."""
    width, height = maps["size"]
    left, top, right, bottom = rect
    near = round(SNAP_DISTANCE * width)
    # The pixel next to the side is left out: the side may be a pixel off (edges are widened by one).
    if 0 < left <= near and _calm(maps, 0, top, max(1, left - 1), bottom):
        left = 0
    if width - near <= right < width and _calm(maps, min(width - 1, right + 1), top, width, bottom):
        right = width
    if 0 < top <= near and _calm(maps, left, 0, right, max(1, top - 1)):
        top = 0
    if height - near <= bottom < height and _calm(maps, left, min(height - 1, bottom + 1), right, height):
        bottom = height
    return left, top, right, bottom


def _calm(maps: dict, x0: int, y0: int, x1: int, y1: int) -> bool:
    integral = maps["activity"]
    total = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    return total / max(1, (x1 - x0) * (y1 - y0)) < ACTIVITY_SCALE


def _candidates(maps: dict, kind: str, positions: np.ndarray, span: tuple[int, int], outward: int) -> list[int]:
    """The strongest few positions for one side (local maxima), and the frame's edge."""
    scores = _side_scores(maps, kind, positions, span, outward)
    # Suppress all but the best within a few pixels: one boundary gives a peak a couple of pixels wide.
    window = np.lib.stride_tricks.sliding_window_view(np.pad(scores, 3, constant_values=-1.0), 7)
    peaks = scores >= window.max(axis=1)
    order = [int(i) for i in np.argsort(-scores) if peaks[i] and scores[i] >= MIN_SIDE_SCORE]
    edge = 0 if outward < 0 else (maps["size"][0] if kind == "pv" else maps["size"][1])
    return sorted({edge, *(int(positions[i]) for i in order[:SIDE_CANDIDATES])})


def _side_scores(maps: dict, kind: str, positions: np.ndarray, span: tuple[int, int], outward: int) -> np.ndarray:
    """How much each position looks like an overlay's side along span: an edge that persists (beyond what
    moving edges leave by chance), stronger with changing gameplay outside it. A line in the camera's room
    has more of the calm room outside it. The frame's own edge scores FRAME_EDGE_SCORE."""
    width, height = maps["size"]
    limit = width if kind == "pv" else height
    start, end = span
    end = max(end, start + 1)
    if kind == "pv":
        coverage = (maps["pv"][end, positions] - maps["pv"][start, positions]) / (end - start)
    else:
        coverage = (maps["ph"][positions, end] - maps["ph"][positions, start]) / (end - start)
    outside = _strip_activity(maps, kind, positions, span, outward)
    persistent = np.clip((coverage - CHANCE_COVERAGE) / (1 - CHANCE_COVERAGE), 0.0, 1.0)
    score = persistent * (STATIC_OUTSIDE + (1 - STATIC_OUTSIDE) * outside / (outside + ACTIVITY_SCALE))
    return np.where((positions == 0) | (positions == limit), FRAME_EDGE_SCORE, score)


def _shape_prior(width: int, height: int, face_width: float) -> float:
    """Facecams are landscape to square (16:9, 4:3, 1:1, now and then a little taller) and the face takes a
    sizeable part of them: penalise strips and rectangles far larger than the face."""
    aspect = width / max(height, 1)
    prior = 1.0 if 0.6 <= aspect <= 2.4 else 0.5
    return prior if 0.1 <= face_width / max(width, 1) <= 0.6 else prior * 0.6


def _strip_activity(maps: dict, kind: str, positions: np.ndarray, span: tuple[int, int], direction: int) -> np.ndarray:
    """Mean activity in the strip STRIP pixels wide on one side of each candidate boundary."""
    integral = maps["activity"]
    width, height = maps["size"]
    limit = width if kind == "pv" else height
    near = np.clip(positions if direction > 0 else positions - STRIP, 0, limit)
    far = np.clip(positions + STRIP if direction > 0 else positions, 0, limit)
    start, end = span
    end = max(end, start + 1)
    if kind == "pv":
        total = integral[end, far] - integral[start, far] - integral[end, near] + integral[start, near]
    else:
        total = integral[far, end] - integral[far, start] - integral[near, end] + integral[near, start]
    return total / np.maximum((far - near) * (end - start), 1)


def _decide(
    rect: tuple[int, int, int, int],
    scores: list[float],
    box: np.ndarray,
    support: float,
    width: int,
    height: int,
    aspect: float,
) -> dict:
    left, top, right, bottom = rect
    inner = [score for score, at_edge in zip(scores, _at_frame_edge(rect, width, height), strict=True) if not at_edge]
    area = (right - left) * (bottom - top) / (width * height)
    centre = {"x": float(box[0] + box[2]) / 2 / width, "y": float(box[1] + box[3]) / 2 / height}
    if not inner or area > MAX_FACECAM_AREA:
        if (box[2] - box[0]) / width < MIN_FULL_FRAME_FACE:
            # A small "face" with no overlay around it is something in the game, not a camera.
            return _suggestion("fit_blur", confidence=1.0 - support)
        # No outline around the face: the camera is the picture ("just chatting").
        return _suggestion("fill", focus=centre, confidence=support)
    facecam = _normalised(left / width, top / height, (right - left) / width, (bottom - top) / height)
    strength = float(np.mean(inner))
    return _suggestion(
        "split", facecam=facecam, gameplay=_gameplay(facecam, aspect), confidence=support * min(1.0, strength / 0.6)
    )


def _at_frame_edge(rect: tuple[int, int, int, int], width: int, height: int) -> list[bool]:
    left, top, right, bottom = rect
    return [left == 0, right == width, top == 0, bottom == height]


def _gameplay(facecam: dict, aspect: float) -> dict:
    """The gameplay rectangle for a split: the full frame, unless the part the split keeps (a centred crop
    to the gameplay panel's shape) would show the facecam; then the frame without the facecam's strip along
    the edge it sits on, the largest such region. Other overlays are left in."""
    full = _normalised(0.0, 0.0, 1.0, 1.0)
    if not _overlaps(_centred_crop(full, aspect), facecam):
        return full
    x0, y0 = facecam["x"], facecam["y"]
    x1, y1 = x0 + facecam["width"], y0 + facecam["height"]
    options = []
    if x0 <= EDGE_NEAR:
        options.append(_normalised(x1, 0.0, 1.0 - x1, 1.0))
    if x1 >= 1 - EDGE_NEAR:
        options.append(_normalised(0.0, 0.0, x0, 1.0))
    if y0 <= EDGE_NEAR:
        options.append(_normalised(0.0, y1, 1.0, 1.0 - y1))
    if y1 >= 1 - EDGE_NEAR:
        options.append(_normalised(0.0, 0.0, 1.0, y0))
    options = [option for option in options if option["width"] * option["height"] >= MIN_GAMEPLAY_AREA]
    return max(options, key=lambda option: option["width"] * option["height"], default=full)


def _centred_crop(rect: dict, aspect: float) -> dict:
    """What a cover crop to the split's gameplay panel keeps of rect (aspect: the source's width / height)."""
    shape = rect["width"] * aspect / rect["height"]
    if shape > GAMEPLAY_PANEL_ASPECT:
        width = rect["width"] * GAMEPLAY_PANEL_ASPECT / shape
        return {**rect, "x": rect["x"] + (rect["width"] - width) / 2, "width": width}
    height = rect["height"] * shape / GAMEPLAY_PANEL_ASPECT
    return {**rect, "y": rect["y"] + (rect["height"] - height) / 2, "height": height}


def _overlaps(a: dict, b: dict) -> bool:
    return (
        min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"]) > 0.01
        and min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"]) > 0.01
    )


def _normalised(x: float, y: float, width: float, height: float) -> dict:
    """A rectangle rounded to 4 decimals that stays a valid spec: inside the frame, at least 0.01 a side."""
    x0, y0 = (round(min(max(v, 0.0), 0.99), 4) for v in (x, y))
    x1 = round(min(max(x + width, x0 + 0.01), 1.0), 4)
    y1 = round(min(max(y + height, y0 + 0.01), 1.0), 4)
    return {"x": x0, "y": y0, "width": round(x1 - x0, 4), "height": round(y1 - y0, 4)}


def _suggestion(
    layout: str,
    *,
    facecam: dict | None = None,
    gameplay: dict | None = None,
    focus: dict | None = None,
    confidence: float,
) -> dict:
    if focus is not None:
        focus = {key: round(min(max(value, 0.0), 1.0), 4) for key, value in focus.items()}
    return {
        "layout": layout,
        "facecam": facecam,
        "gameplay": gameplay or _normalised(0.0, 0.0, 1.0, 1.0),
        "focus": focus,
        "confidence": round(min(max(confidence, 0.0), 1.0), 4),
    }
