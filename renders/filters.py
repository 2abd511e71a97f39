import django_filters

from clips.selectors import clips_owned_by
from renders.models import RenderJob


def _own_clips(request):
    # Another user's clip id must look exactly like an unknown one.
    return clips_owned_by(user=request.user if request is not None else None)


class RenderJobFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=RenderJob.Status.choices)
    clip = django_filters.ModelChoiceFilter(queryset=_own_clips)

    class Meta:
        model = RenderJob
        fields = ["status", "clip"]
