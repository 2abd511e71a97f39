from creatorsync.signed_media import signed_file_url
from renders.backends import DispatchError
from renders.layout import output_size
from renders.models import RenderJob


def render_input_props(job: RenderJob) -> dict:
    """What a backend renders: the validated spec plus what only the server may decide.

    The source URL is made at dispatch time (queued jobs may wait) and never comes from the client.
    """
    props = dict(job.input_props)
    width, height = output_size(
        preset_width=job.preset.width, preset_height=job.preset.height, aspect=props.get("aspect", "9:16")
    )
    clip = job.clip
    if clip is None or not clip.media_file:
        raise DispatchError("The clip or its video was deleted.", retryable=False)
    source = clip.portrait_file if props.get("layout") == "portrait" and clip.portrait_file else clip.media_file
    props.update(
        {
            "source_url": signed_file_url(source.name),
            "output_width": width,
            "output_height": height,
            "fps": job.preset.fps,
            "clip_duration": clip.media_duration or clip.duration,
        }
    )
    return props
