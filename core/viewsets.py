from django.db.models import QuerySet
from rest_framework import viewsets


class OwnerScopedViewSet(viewsets.GenericViewSet):
    """The only way views reach user-owned rows: every queryset is filtered to the requesting user.

    Subclasses set `queryset` and `owner_field`, and may refine the queryset in
    `refine_queryset`; overriding `get_queryset` is refused at class creation, so
    the owner filter cannot be forgotten.
    """

    owner_field = "owner"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in vars(cls):
            raise TypeError(f"{cls.__name__} must not override get_queryset(); override refine_queryset() instead.")

    def get_queryset(self) -> QuerySet:
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return queryset.none()
        return self.refine_queryset(queryset.filter(**{self.owner_field: self.request.user}))

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset
