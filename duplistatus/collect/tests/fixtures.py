"""Fake Duplicati servers (fake_duplicati.py) of each generation, over http or https, and the
real log messages and reports they serve, read from the repository's corpus."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from .fake_duplicati import FakeDuplicati

CORPUS = Path(__file__).resolve().parents[2] / "ingest" / "tests" / "corpus"
SUCCESS_MESSAGE = "v2.0.8.1_backup_success_logdata-result-message_correiarprui.json"
FATAL_MESSAGE = "v2.0.8.1_backup_fatal_logdata-result-message_correiarprui.json"
REPORT_2_1 = "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"


def log_message(name: str) -> str:
    """A real `Message` of a LogData row, exactly as Duplicati stored it."""
    return (CORPUS / "rest-api-log-messages" / name).read_text(encoding="utf-8")


def payload(name: str) -> bytes:
    return (CORPUS / "payloads" / name).read_bytes()


@pytest.fixture
def start_duplicati() -> Iterator[Callable[..., FakeDuplicati]]:
    started: list[FakeDuplicati] = []

    def start(**options: Any) -> FakeDuplicati:
        fake = FakeDuplicati(**options).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


class SelfSigned:
    """A certificate no system trusts (as Duplicati's own), and another one to swap in."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.other = trustme.CA().issue_cert("127.0.0.1", "localhost")

    def context(self, *, other: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        (self.other if other else self.cert).configure_cert(context)
        return context

    def ca_file(self, tmp_path: Path) -> str:
        path = tmp_path / "ca.pem"
        self.ca.cert_pem.write_to_path(str(path))
        return str(path)


@pytest.fixture(scope="session")
def self_signed() -> SelfSigned:
    return SelfSigned()
