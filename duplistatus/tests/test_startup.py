"""A restart does only the set-up work that is due: collectstatic when a static source changed,
migrate when a migration is pending (each took seconds on every start)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.staticfiles.finders import get_finder
from django.core.management import call_command

from duplistatus import startup
from duplistatus.web import assets


@pytest.fixture
def static_sources(settings, tmp_path) -> Path:
    """Static sources the test can edit (only these: collecting all takes long), collected
    into a data dir of the test's own."""
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "extra.css").write_text("body { color: black }")
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    settings.STATIC_ROOT = settings.DATA_DIR / "static"
    settings.STATICFILES_DIRS = [sources]
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    get_finder.cache_clear()
    yield sources
    get_finder.cache_clear()


def test_static_files_are_collected_only_when_a_source_changed(static_sources, settings):
    assert assets.collect_if_changed() is True  # first start
    collected = settings.STATIC_ROOT / "staticfiles.json"
    assert collected.is_file()
    assert assets.collect_if_changed() is False  # restart: nothing changed

    (static_sources / "extra.css").write_text("body { color: red }")
    assert assets.collect_if_changed() is True
    served = json.loads(collected.read_text())["paths"]["extra.css"]
    assert "red" in (settings.STATIC_ROOT / served).read_text()
    assert assets.collect_if_changed() is False

    (static_sources / "more.css").write_text("p {}")  # a new file
    assert assets.collect_if_changed() is True

    collected.unlink()  # the collected files went away (a wiped volume)
    assert assets.collect_if_changed() is True


@pytest.mark.django_db(transaction=True)
def test_migrations_run_only_when_pending():
    assert startup.migrate_if_pending() is False  # the test database is current
    call_command("migrate", "backups", "zero", verbosity=0)
    try:
        assert startup.migrate_if_pending() is True
        assert startup.migrate_if_pending() is False
    finally:
        call_command("migrate", verbosity=0)
