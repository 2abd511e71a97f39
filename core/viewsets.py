from django.db.models import QuerySet
from rest_framework import mixins, viewsets


class OwnerScopedViewSet(viewsets.GenericViewSet):
    """The only way views reach user-owned rows: every queryset is filtered to the requesting user.

    Subclasses set `queryset` and `owner_field`, and may refine the queryset in
    `refine_queryset`; defining `get_queryset` anywhere ahead of this class in the MRO
    (the subclass itself or a mixin it lists first) is refused at class creation, so the
    owner filter cannot be forgotten.
    """

    owner_field = "owner"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        overriding = _get_queryset_overrides(cls)
        if overriding:
            names = ", ".join(klass.__qualname__ for klass in overriding)
            raise TypeError(
                f"{cls.__name__} must not override get_queryset() (defined by {names}); "
                "override refine_queryset() instead."
            )

    def get_queryset(self) -> QuerySet:
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return queryset.none()
        return self.refine_queryset(queryset.filter(**{self.owner_field: self.request.user}))

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset


def _get_queryset_overrides(cls: type) -> list[type]:
    """The classes whose get_queryset would run instead of OwnerScopedViewSet's.

    Classes after it in the MRO (DRF's GenericAPIView, a mixin listed after it) are reached,
    if at all, only through its own super() call, and the owner filter applies to what they return.
    """
    ahead = cls.__mro__[: cls.__mro__.index(OwnerScopedViewSet)]
    return [klass for klass in ahead if "get_queryset" in vars(klass)]


class OwnerScopedCrudViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    OwnerScopedViewSet,
):
    """List, retrieve, create, PATCH and delete the user's own rows (no PUT: a partial change is the only one)."""

    http_method_names = ["get", "post", "patch", "delete"]
