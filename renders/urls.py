from django.urls import path
from rest_framework.routers import SimpleRouter

from renders import views

router = SimpleRouter()
router.register("renders", views.RenderJobViewSet, basename="render-job")

api_urlpatterns = [
    path("presets/", views.PresetListView.as_view(), name="presets"),
    *router.urls,
]

webhook_urlpatterns = [
    path("remotion/", views.remotion_webhook, name="remotion-webhook"),
]
