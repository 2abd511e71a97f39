"""Scratch folders for long jobs (renders, downloads) that a crash cannot leave behind for good.

Each folder is named after the process that made it. A process killed with SIGKILL never
removes its folder (a full copy of a source video); the next worker to start on the same
machine finds folders whose process is gone and removes them.
"""

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from django.conf import settings
from django.core.files import File

logger = logging.getLogger(__name__)


def work_root() -> Path:
    return Path(settings.WORK_DIR or tempfile.gettempdir()) / "creatorsync-work"


@contextmanager
def work_folder(purpose: str) -> Iterator[Path]:
    """A fresh folder for one job's files, removed when the block ends (however it ends)."""
    root = work_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{purpose}-{os.getpid()}-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def local_copy(stored: File, path: Path) -> Path:
    """Copy a file from storage (local or S3) to `path` in a work folder, for ffmpeg to read."""
    with stored.open("rb") as remote, path.open("wb") as local:
        shutil.copyfileobj(remote, local)
    return path


def work_folders_remove_orphans() -> list[Path]:
    """Remove the folders of processes that no longer run. Returns what was removed."""
    root = work_root()
    if not root.is_dir():
        return []
    removed = []
    for folder in root.iterdir():
        pid = _owner_pid(folder.name)
        if pid is None or pid == os.getpid() or psutil.pid_exists(pid):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    if removed:
        logger.info("Removed %d work folder(s) left by stopped processes", len(removed))
    return removed


def _owner_pid(name: str) -> int | None:
    parts = name.split("-")
    return int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else None
