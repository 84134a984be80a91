"""What `serve`'s web workers load (granian's RSGI interface, see cli.serve): first what must be
true before serving (duplistatus.startup), then Django behind duplistatus.edge."""

import os

from duplistatus import startup

startup.run_in_web_worker()

from django.conf import settings  # noqa: E402  (after the set-up above)

from duplistatus.edge import BufferedWSGI  # noqa: E402
from duplistatus.wsgi import application as wsgi_application  # noqa: E402

application = BufferedWSGI(
    wsgi_application,
    threads=int(os.environ.get("WEB_THREADS", "4")),
    max_body_bytes=settings.MAX_UPLOAD_BYTES,
    body_timeout=settings.BODY_TIMEOUT_SECONDS,
)
