"""The container's health check: /api/health must answer 200 within a few seconds.

Standard library only, so the image needs no curl. Exit 0 when healthy, 1 otherwise.
"""

import os
import sys
import urllib.request

url = f"http://127.0.0.1:{os.environ.get('PORT', '9666')}/api/health"
try:
    with urllib.request.urlopen(url, timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # any failure is "unhealthy"; say why in `docker inspect`
    print(f"{url}: {exc}")
    sys.exit(1)
