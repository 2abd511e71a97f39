import pytest

from clips.tests.factories import make_video


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory):
    """A real 1-second 320x180 H.264 MP4."""
    return make_video(tmp_path_factory.mktemp("videos") / "sample.mp4")
