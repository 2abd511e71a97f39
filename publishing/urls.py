from django.urls import path
from rest_framework.routers import SimpleRouter

from publishing import views

router = SimpleRouter()
router.register("publications", views.PublicationViewSet, basename="publication")

api_urlpatterns = [
    path("publish-targets/", views.PublishTargetsView.as_view(), name="publish-targets"),
    *router.urls,
]
