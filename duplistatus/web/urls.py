from django.urls import path
from django.views.generic import RedirectView

from . import (
    collect_views,
    maintenance_views,
    notification_views,
    rule_views,
    settings_views,
    template_views,
    views,
)

app_name = "web"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("servers/<int:server_id>", views.server_page, name="server"),
    path("servers/<int:server_id>/metrics", views.server_metrics, name="server-metrics"),
    path("servers/<int:server_id>/details", views.server_details, name="server-details"),
    path("servers/add", collect_views.add_server, name="server-add"),
    path(
        "servers/<int:server_id>/duplicati",
        collect_views.server_connection,
        name="server-connection",
    ),
    path("servers/<int:server_id>/collect", collect_views.collect_server, name="server-collect"),
    path(
        "servers/<int:server_id>/collect/status",
        collect_views.collect_status,
        name="server-collect-status",
    ),
    path("collect", collect_views.collect_all, name="collect-all"),
    path("collect/status", collect_views.collect_all_status, name="collect-all-status"),
    path("servers/<int:server_id>/reset", views.server_reset, name="server-reset"),
    path("jobs/<int:job_id>", views.job_page, name="job"),
    path("jobs/<int:job_id>/metrics", views.job_metrics, name="job-metrics"),
    path("runs/<int:run_id>", views.run_page, name="run"),
    path("jobs/<int:pk>/schedule", views.schedule, {"kind": "job"}, name="job-schedule"),
    path("jobs/<int:pk>/pause", views.pause, {"kind": "job"}, name="job-pause"),
    path("anomalies/<int:event_id>/expected", views.run_expected, name="anomaly-expected"),
    path("servers/<int:pk>/schedule", views.schedule, {"kind": "server"}, name="server-schedule"),
    path("servers/<int:pk>/pause", views.pause, {"kind": "server"}, name="server-pause"),
    path("jobs/<int:pk>/rules", rule_views.target_rules, {"kind": "job"}, name="job-rules"),
    path(
        "servers/<int:pk>/rules", rule_views.target_rules, {"kind": "server"}, name="server-rules"
    ),
    path(
        "runs/<int:pk>/delete", maintenance_views.delete_confirm, {"kind": "run"}, name="run-delete"
    ),
    path(
        "jobs/<int:pk>/delete", maintenance_views.delete_confirm, {"kind": "job"}, name="job-delete"
    ),
    path(
        "servers/<int:pk>/delete",
        maintenance_views.delete_confirm,
        {"kind": "server"},
        name="server-delete",
    ),
    path("jobs/<int:pk>/merge", maintenance_views.merge_page, {"kind": "job"}, name="job-merge"),
    path(
        "servers/<int:pk>/merge",
        maintenance_views.merge_page,
        {"kind": "server"},
        name="server-merge",
    ),
    path("settings/maintenance", maintenance_views.maintenance, name="settings-maintenance"),
    path(
        "settings/maintenance/backups/<str:name>",
        maintenance_views.backup_download,
        name="settings-backup-download",
    ),
    path("settings/log", maintenance_views.log_page, name="settings-log"),
    path("settings/log/download", maintenance_views.log_download, name="settings-log-download"),
    path(
        "settings/", RedirectView.as_view(pattern_name="web:settings-monitoring"), name="settings"
    ),
    path("settings/monitoring", settings_views.monitoring, name="settings-monitoring"),
    path("settings/monitoring/jobs", settings_views.monitoring_bulk, name="settings-bulk"),
    path(
        "settings/monitoring/actions",
        settings_views.monitoring_action,
        name="settings-monitoring-action",
    ),
    path("settings/notifications", notification_views.channels, name="settings-notifications"),
    path(
        "settings/notifications/channels/new",
        notification_views.channel_form,
        name="settings-channel-new",
    ),
    path(
        "settings/notifications/channels/<int:channel_id>",
        notification_views.channel_form,
        name="settings-channel",
    ),
    path(
        "settings/notifications/channels/<int:channel_id>/delete",
        notification_views.channel_delete,
        name="settings-channel-delete",
    ),
    path(
        "settings/notifications/channels/test",
        notification_views.channel_test_all,
        name="settings-channel-test-all",
    ),
    path(
        "settings/notifications/channels/<int:channel_id>/test",
        notification_views.channel_test,
        name="settings-channel-test",
    ),
    path(
        "settings/notifications/deliveries",
        notification_views.deliveries,
        name="settings-deliveries",
    ),
    path(
        "settings/notifications/deliveries/<int:delivery_id>/retry",
        notification_views.delivery_retry,
        name="settings-delivery-retry",
    ),
    path("settings/notifications/rules", rule_views.rules_page, name="settings-rules"),
    path("settings/notifications/rules/jobs", rule_views.rules_bulk, name="settings-rules-bulk"),
    path("settings/notifications/groups", rule_views.groups, name="settings-groups"),
    path(
        "settings/notifications/groups/<int:group_id>",
        rule_views.group_page,
        name="settings-group",
    ),
    path(
        "settings/notifications/groups/<int:group_id>/delete",
        rule_views.group_delete,
        name="settings-group-delete",
    ),
    path(
        "settings/notifications/templates", template_views.template_list, name="settings-templates"
    ),
    path(
        "settings/notifications/templates/preview",
        template_views.preview,
        name="settings-template-preview",
    ),
    path(
        "settings/notifications/templates/preview-frame",
        template_views.preview_frame,
        name="settings-template-frame",
    ),
    path(
        "settings/notifications/templates/export",
        template_views.export,
        name="settings-templates-export",
    ),
    path(
        "settings/notifications/templates/import",
        template_views.import_file,
        name="settings-templates-import",
    ),
    path(
        "settings/notifications/templates/library",
        template_views.install_library,
        name="settings-templates-library",
    ),
    path(
        "settings/notifications/templates/<str:kind>/<str:channel_kind>",
        template_views.template_page,
        name="settings-template",
    ),
]
