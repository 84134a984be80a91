"""WSGI entry point, served by granian (see cli.serve)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duplistatus.settings")
application = get_wsgi_application()

if os.environ.get("DUPLISTATUS_INPROCESS_WORKER") == "1":
    from duplistatus.worker import start_in_background

    start_in_background()
