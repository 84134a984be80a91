"""Behind an HTTPS reverse proxy: signing in (CSRF) works once the public address or the
proxy is configured, and the lockout sees each client's own address when the proxy is
trusted. X-Forwarded-* from anyone else is ignored, so it cannot dodge the lockout."""

from __future__ import annotations

import ipaddress
import re

import pytest
from django.test import Client

from duplistatus.accounts.models import LoginFailure
from duplistatus.proxies import client_address, parse_networks

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough passphrase"
PROXY = "10.0.0.2"
PUBLIC = {"HTTP_HOST": "backups.example.com", "SERVER_PORT": "80"}


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=PASSWORD)


def through_proxy(client_ip: str = "203.0.113.5") -> dict[str, str]:
    """What nginx, Caddy or Traefik send for an https request from `client_ip`."""
    return PUBLIC | {
        "REMOTE_ADDR": PROXY,
        "HTTP_X_FORWARDED_FOR": client_ip,
        "HTTP_X_FORWARDED_PROTO": "https",
    }


def sign_in(browser: Client, headers: dict[str, str], password: str = PASSWORD, user="alice"):
    page = browser.get("/login", **headers)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token, page.content
    form = {"username": user, "password": password, "csrfmiddlewaretoken": token.group(1)}
    return browser.post("/login", form, HTTP_ORIGIN="https://backups.example.com", **headers)


def test_without_configuration_an_https_proxy_fails_csrf(alice, settings):
    settings.TRUSTED_PROXIES, settings.CSRF_TRUSTED_ORIGINS = [], []
    response = sign_in(Client(enforce_csrf_checks=True), through_proxy())
    assert response.status_code == 403  # what the README's proxy section is there to prevent


def test_a_trusted_proxy_makes_sign_in_work(alice, settings):
    settings.TRUSTED_PROXIES, settings.CSRF_TRUSTED_ORIGINS = parse_networks("10.0.0.0/8"), []
    browser = Client(enforce_csrf_checks=True)
    response = sign_in(browser, through_proxy())
    assert response.status_code == 302 and response["Location"] == "/"
    assert browser.get("/", **through_proxy()).status_code == 200


def test_the_public_address_alone_makes_sign_in_work(alice, settings):
    # DUPLISTATUS_BASE_URL=https://backups.example.com, no trusted proxy.
    settings.TRUSTED_PROXIES = []
    settings.CSRF_TRUSTED_ORIGINS = ["https://backups.example.com"]
    response = sign_in(Client(enforce_csrf_checks=True), through_proxy())
    assert response.status_code == 302


def test_a_trusted_proxy_locks_the_guessing_client_only(alice, settings):
    settings.TRUSTED_PROXIES = parse_networks(PROXY)
    guesser = Client()
    for number in range(settings.LOGIN_MAX_FAILURES * 4):
        sign_in(guesser, through_proxy("203.0.113.5"), "guess", user=f"user{number}")
    locked = sign_in(guesser, through_proxy("203.0.113.5"))
    assert "Too many failed sign-ins" in locked.content.decode()
    # Another client behind the same proxy signs in: once, everyone was locked out.
    assert sign_in(Client(), through_proxy("198.51.100.7")).status_code == 302
    assert set(LoginFailure.objects.values_list("remote_addr", flat=True)) == {"203.0.113.5"}


def test_forwarded_headers_from_anyone_else_are_ignored(alice, settings):
    settings.TRUSTED_PROXIES = parse_networks(PROXY)
    settings.CSRF_TRUSTED_ORIGINS = []
    direct = {"REMOTE_ADDR": "192.0.2.50", "HTTP_X_FORWARDED_PROTO": "https", **PUBLIC}
    # A made-up X-Forwarded-For per attempt does not give fresh guesses...
    guesser = Client()
    for number in range(settings.LOGIN_MAX_FAILURES * 4):
        spoofed = direct | {"HTTP_X_FORWARDED_FOR": f"198.51.100.{number}"}
        sign_in(guesser, spoofed, "guess", user=f"user{number}")
    assert set(LoginFailure.objects.values_list("remote_addr", flat=True)) == {"192.0.2.50"}
    assert "Too many failed sign-ins" in sign_in(guesser, direct).content.decode()
    # ...and a made-up X-Forwarded-Proto does not make the request https.
    assert sign_in(Client(enforce_csrf_checks=True), direct).status_code == 403


def test_client_address():
    proxies = parse_networks("10.0.0.0/8, ::1")
    assert client_address("10.0.0.2", "203.0.113.5", proxies) == "203.0.113.5"
    # The client wrote the left part itself; the right-most untrusted hop is the client.
    assert client_address("10.0.0.2", "1.2.3.4, 203.0.113.5, 10.0.0.9", proxies) == ("203.0.113.5")
    assert client_address("192.0.2.1", "203.0.113.5", proxies) == "192.0.2.1"  # not trusted
    assert client_address("::1", "", proxies) == "::1"
    assert client_address("::ffff:10.0.0.2", "203.0.113.5", proxies) == "203.0.113.5"
    assert parse_networks("10.0.0.1 172.16.0.0/12") == [
        ipaddress.ip_network("10.0.0.1/32"),
        ipaddress.ip_network("172.16.0.0/12"),
    ]
    with pytest.raises(ValueError, match="'nginx' is neither"):
        parse_networks("10.0.0.1,nginx")
