"""`python bench/detection.py`: how well and how fast layout detection works, on generated clips with known
answers (clips/tests/layout_clips.py), on this machine.

Generates a labelled set (by default 24 clips with a facecam across corners, edges, sizes, borders and
backgrounds, 10 without a camera and 4 full-frame cameras, 640x360, 6 s) and three 60-second 1080p clips
with a facecam, runs clips.vision.detect_layout on each, and prints a markdown table. Nothing is
downloaded; the clips live in a temporary folder. Each clip is made before any timing, so generation does
not share the CPU with detection.
"""

import argparse
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clips.tests.layout_clips import (  # noqa: E402 (after the path is set)
    LayoutCase,
    facecam_cases,
    full_frame_cases,
    iou,
    make_layout_clip,
    no_camera_cases,
)
from clips.vision import detect_layout, sample_frames  # noqa: E402

IOU_TARGET = 0.7
FOCUS_TOLERANCE = 0.08  # of the frame, each axis
LONG_CLIP = {"seconds": 60, "width": 1920, "height": 1080}
TWITCH_KEYFRAME_SECONDS = 2  # Twitch's required keyframe interval for broadcasts


def detection_quality(
    *, facecams: int = 24, without: int = 10, full_frames: int = 4, variant: int = 0, long_clip: bool = True
) -> dict:
    """Detect the layout of a generated, labelled set and measure it against the truth."""
    cases = (
        facecam_cases(facecams, variant) + no_camera_cases(without, variant) + full_frame_cases(full_frames, variant)
    )
    with tempfile.TemporaryDirectory(prefix="detection-bench-") as folder:
        clips = _generate(cases, Path(folder))
        runs = [(case, truth, *_timed(path)) for case, (path, truth) in zip(cases, clips, strict=True)]
        results = _score(runs)
        if long_clip:
            results["long_clip"] = _long_clip(Path(folder))
    return results


def _generate(cases: list[LayoutCase], folder: Path) -> list[tuple[Path, object]]:
    def make(case: LayoutCase):
        path = folder / f"{case.name}.mp4"
        return path, make_layout_clip(case, path)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(make, cases))


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (ffmpeg), all threads."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(path: Path) -> tuple[dict, float, float]:
    wall, cpu = time.perf_counter(), _cpu_seconds()
    result = detect_layout(path)
    return result, time.perf_counter() - wall, _cpu_seconds() - cpu


def _score(runs: list) -> dict:
    ious, false_facecams, without, full_ok, full_total, failures = [], 0, 0, 0, 0, []
    for case, truth, result, _, _ in runs:
        if truth.layout == "split":
            score = iou(result["facecam"], truth.facecam) if result["facecam"] else 0.0
            ious.append(score)
            if score < IOU_TARGET:
                failures.append(f"{case.name}: IoU {score:.2f}, got {result['layout']} {result['facecam']}")
        elif truth.layout == "fit_blur":
            without += 1
            if result["facecam"] is not None:
                false_facecams += 1
                failures.append(f"{case.name}: a facecam where there is none, {result['facecam']}")
        else:
            full_total += 1
            focus = result["focus"] or {"x": -1.0, "y": -1.0}
            near = all(abs(focus[axis] - truth.focus[axis]) <= FOCUS_TOLERANCE for axis in ("x", "y"))
            full_ok += result["layout"] == "fill" and near
            if not (result["layout"] == "fill" and near):
                failures.append(f"{case.name}: {result['layout']} focus {result['focus']} vs {truth.focus}")
    walls, cpus = [run[3] for run in runs], [run[4] for run in runs]
    return {
        "facecam_clips": len(ious),
        "mean_iou": statistics.fmean(ious) if ious else None,
        "share_iou_at_least_0_7": sum(score >= IOU_TARGET for score in ious) / len(ious) if ious else None,
        "clips_without_camera": without,
        "false_facecams": false_facecams,
        "share_without_false_facecam": 1 - false_facecams / without if without else None,
        "full_frame_clips": full_total,
        "full_frame_right": full_ok,
        "seconds_per_clip": {"mean": statistics.fmean(walls), "max": max(walls)},
        "cpu_seconds_per_clip": {"mean": statistics.fmean(cpus), "max": max(cpus)},
        "failures": failures,
    }


# The 60-second 1080p clips: (label, background, keyframe interval). testsrc2 encodes at about 5 Mbit/s, as
# Twitch's 1080p does; cellauto's full-frame noise at about 9 Mbit/s, with 1.2 MB keyframes (a stress case:
# decoding keyframes is most of the time); "sparse" has the encoder's default keyframes, one every 10 s,
# so every frame must be decoded.
LONG_CLIPS = (
    ("twitch", "testsrc2", TWITCH_KEYFRAME_SECONDS),
    ("noise", "cellauto", TWITCH_KEYFRAME_SECONDS),
    ("sparse", "testsrc2", None),
)
LONG_TITLES = {
    "twitch": "60 s 1080p clip, ~5 Mbit/s, keyframes every 2 s",
    "noise": "60 s 1080p noise (~9 Mbit/s), keyframes every 2 s",
    "sparse": "60 s 1080p clip, keyframes every 10 s",
}


def _long_clip(folder: Path) -> dict:
    """60-second 1080p clips with a facecam in the top-right corner: detection time and IoU."""
    measured = {}
    for label, background, keyframes in LONG_CLIPS:
        case = LayoutCase(
            name=f"long-{label}",
            placement="top-right",
            cam_width=0.2,
            border=3,
            background=background,
            keyframe_seconds=keyframes,
            seed=7,
            **LONG_CLIP,
        )
        path = folder / f"{case.name}.mp4"
        truth = make_layout_clip(case, path)
        result, wall, cpu = _timed(path)
        frames, _ = sample_frames(path, width=64)
        measured[label] = {
            "seconds": wall,
            "cpu_seconds": cpu,
            "frames": len(frames),
            "megabits_per_second": path.stat().st_size * 8 / 1e6 / LONG_CLIP["seconds"],
            "iou": iou(result["facecam"], truth.facecam) if result["facecam"] else 0.0,
        }
    return measured


def markdown(results: dict) -> str:
    def share(value):
        return f"{value:.0%}"

    per_clip, cpu = results["seconds_per_clip"], results["cpu_seconds_per_clip"]
    rows = [
        ("Clips with a facecam: mean IoU", f"{results['mean_iou']:.3f}", "", ""),
        (
            "Clips with a facecam: IoU ≥ 0.7",
            f"{share(results['share_iou_at_least_0_7'])} of {results['facecam_clips']}",
            "≥ 95%",
            "ok" if results["share_iou_at_least_0_7"] >= 0.95 else "miss",
        ),
        (
            "Clips without a camera: no facecam",
            f"{share(results['share_without_false_facecam'])} of {results['clips_without_camera']}"
            f" ({results['false_facecams']} false)",
            "≥ 90%",
            "ok" if results["share_without_false_facecam"] >= 0.9 else "miss",
        ),
        (
            "Full-frame camera: `fill`, focus on the face",
            f"{results['full_frame_right']} of {results['full_frame_clips']}",
            "",
            "",
        ),
        (
            "Time per clip (640x360, 6 s)",
            f"mean {per_clip['mean']:.2f} s, max {per_clip['max']:.2f} s (CPU mean {cpu['mean']:.2f} s)",
            "",
            "",
        ),
    ]
    for label, title in LONG_TITLES.items():
        long = results.get("long_clip", {}).get(label)
        target = label == "twitch"
        if long:
            rows.append(
                (
                    title,
                    f"{long['seconds']:.2f} s (CPU {long['cpu_seconds']:.2f} s), {long['frames']} frames, "
                    f"IoU {long['iou']:.2f}",
                    "< 3 s on 2 cores" if target else "",
                    ("ok" if long["seconds"] < 3 else "miss") if target else "",
                )
            )
    lines = ["| Measure | Result | Target | |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    if results["failures"]:
        lines += ["", "Misses:", *(f"- {failure}" for failure in results["failures"])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--facecams", type=int, default=24)
    parser.add_argument("--without", type=int, default=10)
    parser.add_argument("--full-frames", type=int, default=4)
    parser.add_argument("--variant", type=int, default=0, help="Another combination of the cases' traits.")
    parser.add_argument("--no-long-clip", action="store_true", help="Skip the 60-second 1080p clips.")
    args = parser.parse_args()
    results = detection_quality(
        facecams=args.facecams,
        without=args.without,
        full_frames=args.full_frames,
        variant=args.variant,
        long_clip=not args.no_long_clip,
    )
    print(markdown(results))


if __name__ == "__main__":
    main()
