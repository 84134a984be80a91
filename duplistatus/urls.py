from django.urls import path

from duplistatus.api.urls import api

urlpatterns = [
    path("api/", api.urls),
]
