from django.urls import include, path

from duplistatus.api.urls import api

urlpatterns = [
    path("api/", api.urls),
    path("", include("duplistatus.accounts.urls")),
    path("", include("duplistatus.web.urls")),
]
