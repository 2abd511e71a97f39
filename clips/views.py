from django.db import transaction
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.filters import SearchFilter
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from clips import layouts, services, transcripts
from clips.filters import ClipFilter
from clips.models import Clip, ClipImport
from clips.serializers import (
    ClipImportRequestSerializer,
    ClipImportSerializer,
    ClipSerializer,
    ClipUploadSerializer,
    TranscribeRequestSerializer,
    TranscriptSerializer,
    TranscriptUpdateSerializer,
)
from core.api import ERROR_RESPONSE
from core.viewsets import OwnerScopedViewSet


@extend_schema_view(
    list=extend_schema(summary="List your clips"),
    retrieve=extend_schema(summary="One clip", responses={200: ClipSerializer, 404: ERROR_RESPONSE}),
    destroy=extend_schema(summary="Delete a clip and its file", responses={204: None, 404: ERROR_RESPONSE}),
)
class ClipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OwnerScopedViewSet):
    queryset = Clip.objects.all()
    serializer_class = ClipSerializer
    filter_backends = [DjangoFilterBackend, SearchFilter]
    filterset_class = ClipFilter
    search_fields = ["title", "creator_name"]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def refine_queryset(self, queryset):
        return queryset.select_related("layout_suggestion").order_by("-clip_created_at", "id")

    def perform_destroy(self, instance: Clip) -> None:
        services.clip_delete(clip=instance)

    @extend_schema(
        summary="Upload a video as a clip",
        request={"multipart/form-data": ClipUploadSerializer},
        responses={201: ClipSerializer, 400: ERROR_RESPONSE, 413: ERROR_RESPONSE},
    )
    def create(self, request, *args, **kwargs):
        upload = ClipUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        clip = services.clip_upload_create(
            owner=request.user, upload=upload.validated_data["file"], title=upload.validated_data.get("title", "")
        )
        return Response(ClipSerializer(clip, context=self.get_serializer_context()).data, status=201)

    @extend_schema(
        summary="Download the clip's video from Twitch (queued)",
        request=None,
        responses={202: ClipSerializer, 400: ERROR_RESPONSE, 404: ERROR_RESPONSE},
    )
    @action(detail=True, methods=["post"], url_path="fetch-media")
    def fetch_media(self, request, pk=None):
        clip = services.clip_media_fetch_request(clip=self.get_object())
        return Response(ClipSerializer(clip, context=self.get_serializer_context()).data, status=202)

    @extend_schema(
        summary="Detect the clip's layout again (queued; it runs by itself once the media is ready)",
        request=None,
        responses={202: ClipSerializer, 404: ERROR_RESPONSE, 409: ERROR_RESPONSE},
    )
    @action(detail=True, methods=["post"], url_path="detect-layout")
    def detect_layout(self, request, pk=None):
        clip = self.get_object()
        layouts.layout_detection_request(clip=clip)
        clip = self.get_queryset().get(pk=clip.pk)
        return Response(ClipSerializer(clip, context=self.get_serializer_context()).data, status=202)

    @extend_schema(
        summary="Recognise the clip's words (queued)",
        request=TranscribeRequestSerializer,
        responses={
            202: TranscriptSerializer,
            404: ERROR_RESPONSE,
            409: OpenApiResponse(ERROR_RESPONSE.response, description="media_not_ready or transcription_in_progress"),
            429: ERROR_RESPONSE,
            503: OpenApiResponse(ERROR_RESPONSE.response, description="transcription_not_configured"),
        },
    )
    @action(detail=True, methods=["post"])
    def transcribe(self, request, pk=None):
        clip = self.get_object()  # a stranger's clip is a 404 before anything else
        params = TranscribeRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        transcript = transcripts.transcript_request(clip=clip, language=params.validated_data["language"])
        return Response(TranscriptSerializer(transcript).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        methods=["GET"], summary="The clip's transcript", responses={200: TranscriptSerializer, 404: ERROR_RESPONSE}
    )
    @extend_schema(
        methods=["PUT"],
        summary="Replace the transcript's words (the creator's corrections)",
        request=TranscriptUpdateSerializer,
        responses={200: TranscriptSerializer, 400: ERROR_RESPONSE, 404: ERROR_RESPONSE, 409: ERROR_RESPONSE},
    )
    @action(detail=True, methods=["get", "put"])
    def transcript(self, request, pk=None):
        clip = self.get_object()
        if request.method == "PUT":
            update = TranscriptUpdateSerializer(data=request.data)
            update.is_valid(raise_exception=True)
            transcript = transcripts.transcript_replace(
                clip=clip, words=update.validated_data["words"], language=update.validated_data.get("language")
            )
            return Response(TranscriptSerializer(transcript).data)
        transcript = transcripts.transcript_get(clip=clip)
        return Response(TranscriptSerializer(transcript).data)

    @extend_schema(
        summary="Import your Twitch clips (queued)",
        request=ClipImportRequestSerializer,
        responses={
            202: ClipImportSerializer,
            400: ERROR_RESPONSE,
            409: OpenApiResponse(ERROR_RESPONSE.response, description="An import is already running."),
        },
    )
    @action(detail=False, methods=["post"], url_path="import")
    def start_import(self, request):
        window = ClipImportRequestSerializer(data=request.data)
        window.is_valid(raise_exception=True)
        with transaction.atomic():
            clip_import = services.clip_import_start(user=request.user, **window.validated_data)
        return Response(ClipImportSerializer(clip_import).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(summary="Your clip imports, newest first"),
    retrieve=extend_schema(summary="One clip import", responses={200: ClipImportSerializer, 404: ERROR_RESPONSE}),
)
class ClipImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OwnerScopedViewSet):
    queryset = ClipImport.objects.all()
    serializer_class = ClipImportSerializer
    owner_field = "user"
    filter_backends = []

    def refine_queryset(self, queryset):
        return queryset.order_by("-created_at", "id")
