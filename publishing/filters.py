import django_filters

from publishing.models import Publication
from renders.selectors import renders_owned_by


def _own_renders(request):
    # Another user's render id must look exactly like an unknown one.
    return renders_owned_by(user=request.user if request is not None else None)


class PublicationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Publication.Status.choices)
    platform = django_filters.ChoiceFilter(choices=Publication.Platform.choices)
    render = django_filters.ModelChoiceFilter(queryset=_own_renders)

    class Meta:
        model = Publication
        fields = ["status", "platform", "render"]
