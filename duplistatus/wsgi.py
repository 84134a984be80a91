"""The Django WSGI app; `serve` runs it behind duplistatus.edge (see duplistatus.asgi)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duplistatus.settings")
application = get_wsgi_application()

# What is loaded by now lives as long as the process. Out of the collector's sight it no
# longer makes each full collection take ~60 ms, which was the slowest upload in a thousand
# (bench/ingest.py); the collect first keeps startup's garbage from being frozen with it.
gc.collect()
gc.freeze()

if os.environ.get("DUPLISTATUS_INPROCESS_WORKER") == "1":
    from duplistatus.worker import start_in_background

    start_in_background()
