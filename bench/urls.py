"""The project's URLs plus the floors the benchmark compares against (used only by `make bench`)."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response
from rest_framework.views import APIView

from creatorsync.urls import urlpatterns as project_urlpatterns


class AuthenticatedFloor(APIView):
    """The cheapest endpoint behind the same Clerk authentication: answers {}."""

    def get(self, request):
        return Response({})


@csrf_exempt
def webhook_floor(request):
    """The cheapest CSRF-exempt POST view."""
    return HttpResponse(status=200)


urlpatterns = [
    path("bench/floor/auth/", AuthenticatedFloor.as_view()),
    path("bench/floor/webhook/", webhook_floor),
    *project_urlpatterns,
]
