"""Builders for render tests: presets and render jobs; and what renders left in storage."""

from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from renders import services
from renders.models import RenderJob, RenderPreset

# One second of the clip, full-frame 9:16: valid for every ready clip the tests build.
PROPS = {"trim_start": 0.0, "trim_end": 1.0, "aspect": "9:16", "layout": "fill", "title": ""}


def make_preset(*, name: str = "Vertical 720p", slug: str = "vertical-720p", **fields) -> RenderPreset:
    """A 720x1280, 30 fps preset of the VerticalShort composition; keyword arguments override."""
    defaults = {
        "composition_id": "VerticalShort",
        "width": 720,
        "height": 1280,
        "fps": 30,
        "default_props": {"aspect": "9:16", "layout": "fill"},
    }
    return RenderPreset.objects.create(name=name, slug=slug, **{**defaults, **fields})


def make_job(
    owner,
    clip,
    preset,
    *,
    through_api: bool = False,
    props: dict | None = None,
    age: timedelta | None = None,
    **fields,
) -> RenderJob:
    """A render job of `clip` with `preset`, its spec `props` (PROPS by default); keyword arguments set its fields.

    By default the row is written as it is, on the local backend, with nothing queued. With
    `through_api=True` it is created by `services.render_job_create` as the API creates it (the
    spec validated, the `created` event recorded, its dispatch queued, the backend from the
    settings), then given `fields` directly, without any transition. `age`: created that long ago.
    """
    props = dict(props or PROPS)
    if through_api:
        job = services.render_job_create(owner=owner, clip=clip, preset=preset, input_props=props)
        if fields:
            RenderJob.objects.filter(pk=job.pk).update(**fields)
    else:
        defaults = {"backend": RenderJob.Backend.LOCAL, "deadline_at": timezone.now() + timedelta(minutes=30)}
        fields = {**defaults, **fields}
        job = RenderJob.objects.create(owner=owner, clip=clip, preset=preset, input_props=props, **fields)
    if age:
        RenderJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - age)
    job.refresh_from_db()
    return job


def stored_render_files(media_root: Path) -> list[str]:
    """Every render output in local storage, as storage names."""
    folder = media_root / "renders"
    return sorted(str(path.relative_to(media_root)) for path in folder.rglob("*") if path.is_file())
