"""A restart does only the set-up work that is due: collectstatic when a static source changed,
migrate when a migration is pending (each took seconds on every start)."""

from __future__ import annotations

import json
import os
import time
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


def test_scripts_are_served_compressed_and_source_maps_are_not_compressed(static_sources, settings):
    """Pages get brotli and gzip copies of their scripts; source maps (read only by a
    browser's developer tools) are not compressed: brotli at its highest level on the API
    docs' maps was most of a first start's collectstatic."""
    import brotli

    script = "".join(f"function f{n}(a) {{ return a * {n}; }}\n" for n in range(5000))
    (static_sources / "app.js").write_text(script)
    (static_sources / "app.js.map").write_text('{"version": 3, "mappings": "' + "A" * 50_000 + '"}')
    assert assets.collect_if_changed() is True
    root = settings.STATIC_ROOT
    served = json.loads((root / "staticfiles.json").read_text())["paths"]["app.js"]
    compressed = (root / (served + ".br")).read_bytes()
    assert brotli.decompress(compressed).decode() == script
    assert len(compressed) < len(script) / 10
    assert (root / (served + ".gz")).is_file()
    assert not list(root.glob("app.js*.map.*")) and list(root.glob("app.js*.map"))


@pytest.mark.django_db(transaction=True)
def test_migrations_run_only_when_pending():
    assert startup.migrate_if_pending() is False  # the test database is current
    call_command("migrate", "backups", "zero", verbosity=0)
    try:
        assert startup.migrate_if_pending() is True
        assert startup.migrate_if_pending() is False
    finally:
        call_command("migrate", verbosity=0)


@pytest.mark.timeout(300)
def test_a_restart_answers_without_migrating_or_collecting(tmp_path):
    """`serve` on a fresh data dir migrates and collects the static files; stopped and started
    again on that data dir it does neither before it answers. (How long it takes is printed
    here and measured in bench/startup.py: a timed assertion fails on a busy machine.)"""
    from duplistatus.tests.test_serve import Serve

    env = {k: v for k, v in os.environ.items() if not k.startswith("DUPLISTATUS_")}
    env.pop("DATABASE_URL", None)  # SQLite in the data dir: the data dir is what is kept
    env["DUPLISTATUS_DATA_DIR"] = str(tmp_path / "data")
    env["DUPLISTATUS_ADMIN_PASSWORD"] = "startup tests 12345"
    did_work = ("Applied the database migrations.", "Collected the static files")

    first = Serve(env)
    first.wait_healthy(timeout=240)
    first.stop()
    said = first.output()
    assert all(line in said for line in did_work), said

    started = time.monotonic()
    restart = Serve(env)
    restart.wait_healthy()
    answered = time.monotonic() - started
    restart.stop()
    said = restart.output()
    assert not any(line in said for line in did_work), said
    print(f"restart answered /api/health after {answered:.2f} s")
