from django.urls import path
from rest_framework.routers import SimpleRouter

from automations import views

router = SimpleRouter()
router.register("templates", views.TemplateViewSet, basename="template")
router.register("automations", views.AutomationViewSet, basename="automation")

api_urlpatterns = [*router.urls]

webhook_urlpatterns = [
    path("twitch/", views.twitch_eventsub_webhook, name="twitch-eventsub-webhook"),
]
