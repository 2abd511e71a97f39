"""OwnerScopedViewSet: no subclass can replace the owner filter, whatever it inherits from."""

import pytest
from django.db.models import QuerySet
from rest_framework import mixins

from clips.models import Clip
from core.viewsets import OwnerScopedViewSet


class EveryClipMixin:
    """A mixin that would hand out every user's rows."""

    def get_queryset(self) -> QuerySet:
        return Clip.objects.all()


class InheritedEveryClipMixin(EveryClipMixin):
    pass


def test_a_viewset_overriding_get_queryset_is_refused():
    with pytest.raises(TypeError, match="refine_queryset"):

        class Leaky(OwnerScopedViewSet):
            queryset = Clip.objects.all()

            def get_queryset(self) -> QuerySet:
                return Clip.objects.all()


def test_a_mixin_placed_before_the_base_that_overrides_get_queryset_is_refused():
    with pytest.raises(TypeError, match="EveryClipMixin"):

        class Leaky(EveryClipMixin, OwnerScopedViewSet):
            queryset = Clip.objects.all()


def test_an_override_inherited_by_a_mixin_is_refused():
    with pytest.raises(TypeError, match="EveryClipMixin"):

        class Leaky(mixins.ListModelMixin, InheritedEveryClipMixin, OwnerScopedViewSet):
            queryset = Clip.objects.all()


def test_a_subclass_of_an_allowed_viewset_that_overrides_get_queryset_is_refused():
    class Allowed(OwnerScopedViewSet):
        queryset = Clip.objects.all()

    with pytest.raises(TypeError, match="refine_queryset"):

        class Leaky(Allowed):
            def get_queryset(self) -> QuerySet:
                return Clip.objects.all()


def test_refining_the_queryset_and_drf_mixins_are_allowed():
    class Refined(mixins.ListModelMixin, mixins.RetrieveModelMixin, OwnerScopedViewSet):
        queryset = Clip.objects.all()

        def refine_queryset(self, queryset: QuerySet) -> QuerySet:
            return queryset.order_by("-created_at")

    assert Refined.get_queryset is OwnerScopedViewSet.get_queryset
