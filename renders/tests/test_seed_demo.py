"""`manage.py seed_demo`: the default presets and a generated, ready-to-render demo clip."""

import io

import pytest
from django.core.management import CommandError, call_command

from clips.demo import DEMO_SECONDS, DEMO_TITLE
from clips.media import probe_video
from clips.models import Clip
from renders.models import RenderPreset

pytestmark = pytest.mark.django_db

DEFAULT_SLUGS = ["vertical-1080p", "vertical-720p"]


def seed(**options) -> None:
    call_command("seed_demo", stdout=io.StringIO(), **options)


def test_seeding_creates_the_default_presets(admin_user, media_root):
    seed()
    presets = {preset.slug: preset for preset in RenderPreset.objects.all()}
    assert sorted(presets) == DEFAULT_SLUGS
    assert (presets["vertical-1080p"].width, presets["vertical-1080p"].height) == (1080, 1920)
    assert (presets["vertical-720p"].width, presets["vertical-720p"].height) == (720, 1280)
    assert all(preset.is_active and not preset.feature_flag_key for preset in presets.values())


def test_seeding_creates_a_ready_demo_clip_with_a_real_landscape_video_and_a_portrait_file(admin_user, media_root):
    seed()
    clip = Clip.objects.get()
    assert clip.owner == admin_user
    assert clip.title == DEMO_TITLE
    assert clip.source == Clip.Source.UPLOAD
    assert clip.media_status == Clip.MediaStatus.READY
    assert clip.has_portrait
    landscape = probe_video(clip.media_file.path)
    portrait = probe_video(clip.portrait_file.path)
    assert (landscape.width, landscape.height) == (1280, 720)
    assert (portrait.width, portrait.height) == (720, 1280)
    assert clip.media_duration == pytest.approx(DEMO_SECONDS, abs=0.2)
    assert (clip.media_width, clip.media_height) == (1280, 720)
    assert clip.media_size == clip.media_file.size


def test_seeding_twice_creates_nothing_new(admin_user, media_root):
    seed()
    clip = Clip.objects.get()
    seed()
    assert RenderPreset.objects.count() == 2
    assert list(Clip.objects.values_list("pk", flat=True)) == [clip.pk]


def test_seeding_again_keeps_staff_edits_to_the_presets(admin_user, media_root):
    seed()
    RenderPreset.objects.filter(slug="vertical-720p").update(name="Edited by staff", fps=60)
    seed()
    edited = RenderPreset.objects.get(slug="vertical-720p")
    assert (edited.name, edited.fps) == ("Edited by staff", 60)


def test_the_demo_clip_goes_to_the_first_superuser(django_user_model, media_root):
    first = django_user_model.objects.create_superuser("first-admin", "first@example.com", "pw")
    django_user_model.objects.create_superuser("second-admin", "second@example.com", "pw")
    seed()
    assert Clip.objects.get().owner == first


def test_the_owner_option_picks_a_user_by_email(admin_user, owner, media_root):
    seed(owner="OWNER@example.com")
    assert Clip.objects.get().owner == owner


def test_seeding_without_any_superuser_is_refused(owner, media_root):
    with pytest.raises(CommandError, match="No such active user"):
        seed()
    assert not RenderPreset.objects.exists()
    assert not Clip.objects.exists()


def test_seeding_for_an_unknown_owner_is_refused(admin_user, media_root):
    with pytest.raises(CommandError):
        seed(owner="nobody@example.com")
    assert not Clip.objects.exists()


def test_the_demo_clip_gets_a_ready_transcript_to_caption_with(admin_user, media_root):
    from clips.demo import DEMO_WORDS
    from clips.models import Transcript
    from clips.transcripts import validate_words
    from renders.specs import render_spec_validate

    seed()
    clip = Clip.objects.get()
    transcript = Transcript.objects.get(clip=clip)
    assert (transcript.status, transcript.language) == (Transcript.Status.READY, "en")
    assert [word["text"] for word in transcript.words] == DEMO_WORDS
    # Valid as the API would take it: in order, no overlap, inside the clip.
    assert validate_words(transcript.words, duration=clip.media_duration) == transcript.words
    # So a captioned render of the demo clip is accepted, with words in its window.
    spec = render_spec_validate(
        clip=clip, preset=RenderPreset.objects.get(slug="vertical-720p"), props={"captions": {"style": "karaoke"}}
    )
    assert [word["text"] for word in spec["captions"]["words"]] == DEMO_WORDS
    seed()
    assert list(Transcript.objects.values_list("pk", flat=True)) == [transcript.pk]
