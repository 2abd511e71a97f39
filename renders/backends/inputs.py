from django.db.models.fields.files import FieldFile

from core.signed_media import signed_file_url
from renders.backends.base import BackendError
from renders.captions import to_remotion_captions
from renders.layout import output_size
from renders.models import RenderJob


def render_source(job: RenderJob) -> FieldFile:
    """The video a job renders from: the clip's file, or its native portrait version for that layout."""
    clip = job.clip
    if clip is None or not clip.media_file:
        raise BackendError("The clip or its video was deleted.", retryable=False)
    if job.input_props.get("layout") == "portrait" and clip.portrait_file:
        return clip.portrait_file
    return clip.media_file


def render_output_size(job: RenderJob) -> tuple[int, int]:
    return output_size(
        preset_width=job.preset.width, preset_height=job.preset.height, aspect=job.input_props.get("aspect", "9:16")
    )


def render_input_props(job: RenderJob) -> dict:
    """What a backend renders: the validated spec plus what only the server may decide.

    The source URL is made at dispatch time (queued jobs may wait) and never comes from the client.
    """
    source = render_source(job)
    width, height = render_output_size(job)
    captions = job.input_props.get("captions")
    return {
        **job.input_props,
        # @remotion/captions' Caption shape per word, so the composition renders them as they are.
        "captions": to_remotion_captions(captions["words"]) if captions else None,
        "caption_style": {key: value for key, value in captions.items() if key != "words"} if captions else None,
        "source_url": signed_file_url(source.name),
        "output_width": width,
        "output_height": height,
        "fps": job.preset.fps,
        "clip_duration": job.clip.seconds,
    }
