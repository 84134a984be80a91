"""Day-2 operations: delete and merge servers, jobs and runs, retention, backup and restore,
moving between database engines. Deciding is done by plain functions here; the API
(api/maintenance.py), the pages (web/maintenance_views.py) and the CLI call them."""
