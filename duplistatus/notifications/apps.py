from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "duplistatus.notifications"
    label = "notifications"
    verbose_name = "Notifications"
