import django_filters

from clips.models import Clip
from renders.models import RenderJob


def _own_clips(request):
    # Another user's clip id must look exactly like an unknown one.
    if request is None or not request.user.is_authenticated:
        return Clip.objects.none()
    return Clip.objects.filter(owner=request.user)


class RenderJobFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=RenderJob.Status.choices)
    clip = django_filters.ModelChoiceFilter(queryset=_own_clips)

    class Meta:
        model = RenderJob
        fields = ["status", "clip"]
