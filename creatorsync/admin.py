from django.db import models

# URLs typed into the admin default to https (Django 6's default; silences its deprecation warning).
HTTPS_URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}
