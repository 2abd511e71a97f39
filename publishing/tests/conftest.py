import pytest

from publishing.tests.factories import make_succeeded_render


@pytest.fixture
def render(owner, publishing_settings):
    """The owner's succeeded render: 700 KiB, three YouTube chunks of 256 KiB."""
    return make_succeeded_render(owner)
