from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "duplistatus.backups"
    label = "backups"
    verbose_name = "Servers, jobs and runs"
