from django.urls import include, path

from duplistatus.api.metrics import metrics
from duplistatus.api.urls import api

urlpatterns = [
    path("api/", api.urls),
    path("metrics", metrics, name="metrics"),
    # Django's set_language (POST language, next): the sign-in page's language picker.
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("duplistatus.accounts.urls")),
    path("", include("duplistatus.web.urls")),
]
