"""Demo data for a newcomer's first local render: the default presets (the clip comes from clips.demo)."""

from renders.models import RenderPreset

DEFAULT_PRESETS = [
    {"slug": "vertical-1080p", "name": "Vertical 1080p", "width": 1080, "height": 1920, "fps": 30},
    {"slug": "vertical-720p", "name": "Vertical 720p", "width": 720, "height": 1280, "fps": 30},
]


def presets_ensure_defaults() -> list[RenderPreset]:
    """Create the default presets if missing; never overwrite staff edits."""
    return [
        RenderPreset.objects.get_or_create(
            slug=preset["slug"],
            defaults={
                **preset,
                "composition_id": "VerticalShort",
                "default_props": {"aspect": "9:16", "layout": "fill"},
            },
        )[0]
        for preset in DEFAULT_PRESETS
    ]
