"""The web pages: server-rendered Django templates, htmx for in-place updates, uPlot charts.

views.py           dashboard, server, job and run pages; schedule, pause and server forms
settings_views.py  Settings → Monitoring (global, server and per-job schedules, bulk edit)
board.py           the dashboard's data: every job's state from monitor.with_schedules
history.py         run history pages and chart series (one job's or one server's runs)
run_details.py     a run's statistics, nested results and log lines with levels
forms.py           schedule forms → monitoring.settings (the API's validation and apply path)
assets.py          front-end libraries from node_modules, static file storage
templates/web/, static/web/, templatetags/ui.py (times, sizes, badges)
Account pages (sign-in, users, tokens, audit log) live in duplistatus/accounts/.
"""
