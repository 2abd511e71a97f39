from rest_framework.routers import SimpleRouter

from clips import views

router = SimpleRouter()
router.register("clips", views.ClipViewSet, basename="clip")
router.register("clip-imports", views.ClipImportViewSet, basename="clip-import")

api_urlpatterns = router.urls
