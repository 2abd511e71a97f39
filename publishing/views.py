from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERROR_RESPONSE
from core.errors import Conflict
from core.viewsets import OwnerScopedViewSet
from publishing import services
from publishing.filters import PublicationFilter
from publishing.models import Publication
from publishing.rules import publish_targets
from publishing.serializers import PublicationCreateSerializer, PublicationSerializer, PublishTargetSerializer

PUBLICATION_ERRORS = {400: ERROR_RESPONSE, 404: ERROR_RESPONSE, 409: ERROR_RESPONSE}


class PublishTargetsView(APIView):
    @extend_schema(
        summary="The platforms you can publish to, and what each connection lacks",
        responses={200: PublishTargetSerializer(many=True), 503: ERROR_RESPONSE},
    )
    def get(self, request):
        return Response(PublishTargetSerializer(publish_targets(user=request.user), many=True).data)


@extend_schema_view(
    list=extend_schema(summary="Your publications, newest first"),
    retrieve=extend_schema(summary="One publication", responses={200: PublicationSerializer, 404: ERROR_RESPONSE}),
)
class PublicationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OwnerScopedViewSet):
    queryset = Publication.objects.all()
    serializer_class = PublicationSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = PublicationFilter

    def refine_queryset(self, queryset):
        return queryset.order_by("-created_at", "id")

    @extend_schema(
        summary="Publish a succeeded render to YouTube or TikTok, now or at a scheduled time",
        request=PublicationCreateSerializer,
        responses={201: PublicationSerializer, **PUBLICATION_ERRORS, 429: ERROR_RESPONSE, 503: ERROR_RESPONSE},
    )
    def create(self, request):
        params = PublicationCreateSerializer(data=request.data, context={"request": request})
        params.is_valid(raise_exception=True)
        publication = services.publication_create(owner=request.user, **params.validated_data)
        return Response(PublicationSerializer(publication).data, status=201)

    @extend_schema(
        summary="Cancel a publication whose upload has not started",
        request=None,
        responses={200: PublicationSerializer, **PUBLICATION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        publication = self.get_object()
        if not services.publication_cancel(publication=publication):
            why = "" if publication.is_final else " whose upload started"
            raise Conflict(f"A {publication.status} publication{why} cannot be cancelled.", code="not_cancellable")
        return Response(PublicationSerializer(publication).data)

    @extend_schema(
        summary="Retry a failed publication (it resumes its upload where it can)",
        request=None,
        responses={200: PublicationSerializer, **PUBLICATION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        publication = self.get_object()
        if not services.publication_retry(publication=publication):
            raise Conflict(f"A {publication.status} publication cannot be retried.", code="not_retryable")
        return Response(PublicationSerializer(publication).data)
