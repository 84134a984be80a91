from django.apps import AppConfig
from django.contrib.staticfiles.apps import StaticFilesConfig as BaseStaticFilesConfig


class WebConfig(AppConfig):
    name = "duplistatus.web"
    label = "web"
    verbose_name = "Web pages"


class StaticFilesConfig(BaseStaticFilesConfig):
    """collectstatic without django-ninja's ReDoc bundle and its source map: /api/docs uses
    Swagger UI only, and those files are most of the megabytes to hash and compress."""

    ignore_patterns = [*BaseStaticFilesConfig.ignore_patterns, "redoc*"]
