import pytest

# The browser tests' Chromium, live server and tab (see web/tests/conftest.py).
from duplistatus.web.tests.conftest import _static_files, browser, live_url, page  # noqa: F401


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
