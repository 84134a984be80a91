from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("login", views.LoginView.as_view(), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("account", views.account, name="account"),
    path("account/password", views.password, name="password"),
    path("settings/users", views.users, name="users"),
    path("settings/users/<int:user_id>", views.user_change, name="user-change"),
    path("settings/tokens", views.tokens, name="tokens"),
    path("settings/tokens/<int:token_id>/revoke", views.token_revoke, name="token-revoke"),
    path("settings/audit", views.audit_log, name="audit"),
]
