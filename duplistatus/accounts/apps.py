from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "duplistatus.accounts"
    label = "accounts"
    verbose_name = "Users and API tokens"
