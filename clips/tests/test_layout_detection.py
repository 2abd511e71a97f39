"""Layout detection on generated clips with known answers: a facecam in each corner and along each edge,
two sizes, with and without a border, a streamer who leaves for a while, no camera, a full-frame camera,
and files that are not videos."""

import functools
from concurrent.futures import ThreadPoolExecutor

import pytest

from clips.media import NotAVideo
from clips.tests.layout_clips import LayoutCase, LayoutTruth, iou, make_audio_only, make_layout_clip
from clips.vision import detect_layout, sample_frames

FACECAMS = [
    LayoutCase(name="top-left", placement="top-left", cam_width=0.15, border=4, background="life", seed=1),
    LayoutCase(name="top-right", placement="top-right", cam_width=0.3, background="testsrc2", seed=2),
    LayoutCase(
        name="bottom-left",
        placement="bottom-left",
        cam_width=0.3,
        cam_aspect=4 / 3,
        border=3,
        rounded=12,
        border_colour=(255, 255, 255),
        background="mandelbrot",
        seed=3,
    ),
    LayoutCase(name="bottom-right", placement="bottom-right", cam_width=0.15, margin=12, background="cellauto", seed=4),
    LayoutCase(name="left", placement="left", cam_width=0.3, border=5, background="gradients", mirrored=True, seed=5),
    LayoutCase(name="right", placement="right", cam_width=0.15, background="bars", seed=6),
    LayoutCase(name="top", placement="top", cam_width=0.3, margin=8, background="sierpinski", seed=7),
    LayoutCase(
        name="bottom",
        placement="bottom",
        cam_width=0.15,
        border=2,
        border_colour=(20, 20, 20),
        background="testsrc2",
        mirrored=True,
        seed=8,
    ),
    LayoutCase(
        name="streamer-away", placement="top-right", cam_width=0.25, absent=(2.0, 4.0), background="life", seed=9
    ),
]
NO_CAMERA = [
    LayoutCase(name="no-camera", placement=None, background="testsrc2", seed=10),
    LayoutCase(name="no-camera-minimap", placement=None, background="cellauto", distractor=True, seed=11),
]
FULL_FRAME = LayoutCase(name="just-chatting", placement=None, full_frame=True, seed=12)


@pytest.fixture(scope="session")
def layout_clips(tmp_path_factory) -> dict[str, tuple]:
    """Every clip of this module, made once per session (two at a time: ffmpeg is the slow part)."""
    folder = tmp_path_factory.mktemp("layout-detection")

    def make(case: LayoutCase) -> tuple[str, tuple]:
        path = folder / f"{case.name}.mp4"
        return case.name, (path, make_layout_clip(case, path))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(make, [*FACECAMS, *NO_CAMERA, FULL_FRAME]))


@functools.cache
def detected(path) -> dict:
    """Detection of one clip, once per session: several tests look at the same answer."""
    return detect_layout(path)


def assert_valid_spec(result: dict) -> None:
    """The suggestion can go into a render spec as it is: rectangles inside the frame, 4 decimals."""
    assert set(result) == {"layout", "facecam", "gameplay", "focus", "confidence"}
    assert result["layout"] in ("split", "fill", "fit_blur")
    assert 0 <= result["confidence"] <= 1
    for name in ("facecam", "gameplay"):
        rect = result[name]
        if rect is None:
            continue
        assert set(rect) == {"x", "y", "width", "height"}
        assert all(round(value, 4) == value for value in rect.values())
        assert rect["x"] >= 0
        assert rect["y"] >= 0
        assert rect["width"] >= 0.01
        assert rect["height"] >= 0.01
        assert rect["x"] + rect["width"] <= 1
        assert rect["y"] + rect["height"] <= 1
    assert (result["facecam"] is not None) == (result["layout"] == "split")


@pytest.mark.parametrize("case", FACECAMS, ids=lambda case: case.name)
def test_finds_the_facecam(layout_clips, case):
    path, truth = layout_clips[case.name]

    result = detected(path)

    assert_valid_spec(result)
    assert result["layout"] == "split"
    assert iou(result["facecam"], truth.facecam) >= 0.7, (result["facecam"], truth.facecam)
    assert result["focus"] is None
    assert result["confidence"] >= 0.5


def test_gameplay_leaves_out_a_facecam_the_crop_would_show(layout_clips):
    """A facecam at the top centre sits in the middle of the gameplay crop: the gameplay starts below it."""
    path, _ = layout_clips["top"]

    result = detected(path)

    facecam, gameplay = result["facecam"], result["gameplay"]
    assert gameplay["y"] >= facecam["y"] + facecam["height"] - 0.01
    assert gameplay["x"] == 0
    assert gameplay["width"] == 1


@pytest.mark.parametrize("case", NO_CAMERA, ids=lambda case: case.name)
def test_gameplay_without_a_camera_fits_with_blur(layout_clips, case):
    path, truth = layout_clips[case.name]

    result = detected(path)

    assert_valid_spec(result)
    assert truth == LayoutTruth(layout="fit_blur")
    assert result["layout"] == "fit_blur"
    assert result["facecam"] is None
    assert result["gameplay"] == {"x": 0.0, "y": 0.0, "width": 1.0, "height": 1.0}


def test_a_full_frame_camera_fills_around_the_face(layout_clips):
    path, truth = layout_clips[FULL_FRAME.name]

    result = detected(path)

    assert_valid_spec(result)
    assert result["layout"] == "fill"
    assert result["facecam"] is None
    assert abs(result["focus"]["x"] - truth.focus["x"]) < 0.08
    assert abs(result["focus"]["y"] - truth.focus["y"]) < 0.08


def test_sample_frames_spreads_a_capped_number_across_the_clip(layout_clips):
    path, _ = layout_clips["top-right"]

    frames, aspect = sample_frames(path, per_second=2, width=320, max_frames=5)

    assert frames.shape == (5, 180, 320, 3)
    assert aspect == pytest.approx(16 / 9)
    # Evenly spread over 6 seconds: the moving gameplay differs from one sample to the next.
    assert all((frames[i] != frames[i + 1]).any() for i in range(4))


def test_a_corrupt_file_is_not_a_video(tmp_path):
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64)

    with pytest.raises(NotAVideo):
        detect_layout(path)


def test_an_audio_only_file_is_not_a_video(tmp_path):
    path = make_audio_only(tmp_path / "voice.m4a")

    with pytest.raises(NotAVideo):
        detect_layout(path)
