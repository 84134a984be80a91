from django.urls import include, path

from duplistatus.api.metrics import metrics
from duplistatus.api.urls import api

urlpatterns = [
    path("api/", api.urls),
    path("metrics", metrics, name="metrics"),
    path("", include("duplistatus.accounts.urls")),
    path("", include("duplistatus.web.urls")),
]
