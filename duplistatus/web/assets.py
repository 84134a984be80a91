"""Front-end libraries and static files.

Third-party code (htmx, uPlot) is pinned in package.json + package-lock.json and installed by
npm into node_modules/, never committed. `NodeModulesFinder` hands collectstatic exactly the
files the pages load, under static/vendor/. `duplistatus setup` (run by `serve`) installs them
with `npm ci --omit=dev` when they are missing and npm is there, then runs collectstatic when
the static sources changed since the last run (`collect_if_changed`).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage
from whitenoise.compress import Compressor
from whitenoise.storage import CompressedManifestStaticFilesStorage

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent  # where package.json is
NODE_MODULES = PROJECT_DIR / "node_modules"

# The files the pages load, in node_modules; each is served as static/vendor/<its name>.
VENDOR_FILES = {
    Path(source).name: NODE_MODULES / source
    for source in (
        "htmx.org/dist/htmx.min.js",
        "uplot/dist/uPlot.iife.min.js",
        "uplot/dist/uPlot.min.css",
    )
}


def missing() -> list[str]:
    return [name for name, file in VENDOR_FILES.items() if not file.is_file()]


def install(echo: Any = print) -> bool:
    """`npm ci --omit=dev` when a vendor file is missing; False when they are still missing."""
    if not missing():
        return True
    hint = f"run `npm ci --omit=dev` in {PROJECT_DIR} (needs Node.js), then restart"
    npm = shutil.which("npm")
    if npm is None or not (PROJECT_DIR / "package-lock.json").is_file():
        echo(f"The web pages' scripts are not installed: {hint}. The API works without them.")
        return False
    echo("Installing the web pages' scripts: npm ci --omit=dev ...")
    done = subprocess.run(
        [npm, "ci", "--omit=dev", "--no-audit", "--no-fund"], cwd=PROJECT_DIR, check=False
    )
    if done.returncode != 0 or missing():
        echo(f"npm ci failed: {hint}. The API works without them.")
        return False
    return True


def sources_fingerprint() -> str:
    """A hash of every file collectstatic would collect (name and content) and of how they
    are stored: equal fingerprints, equal collected files."""
    from django.conf import settings
    from django.contrib.staticfiles.finders import get_finders

    from duplistatus.web.apps import StaticFilesConfig

    digest = hashlib.sha256()
    digest.update(repr(settings.STORAGES["staticfiles"]).encode())
    digest.update(repr((_Compressor.SKIP_COMPRESS_EXTENSIONS, BROTLI_QUALITY)).encode())
    found = set()
    for finder in get_finders():
        for path, storage in finder.list(StaticFilesConfig.ignore_patterns):
            prefix = getattr(storage, "prefix", None) or ""
            found.add((f"{prefix}/{path}" if prefix else path, storage.path(path)))
    for name, source in sorted(found):
        digest.update(name.encode() + b"\0")
        with open(source, "rb") as file:
            digest.update(hashlib.file_digest(file, "sha256").digest())
    return digest.hexdigest()


def collection_is_current() -> bool:
    """Whether the collected files are those of the current sources (collect_if_changed
    would do nothing)."""
    from django.conf import settings

    stamp = Path(settings.DATA_DIR) / "static.fingerprint"
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    try:
        return manifest.is_file() and stamp.read_text() == sources_fingerprint()
    except FileNotFoundError:
        return False


def collect_if_changed(verbosity: int = 0) -> bool:
    """collectstatic when a static source changed (or was added or removed) since the last
    collection into this data dir; returns whether it collected. Collecting hashes and
    compresses every file (seconds); checking reads them once (milliseconds), so a restart
    with nothing new is quick."""
    from django.conf import settings
    from django.core.management import call_command

    stamp = Path(settings.DATA_DIR) / "static.fingerprint"
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    fingerprint = sources_fingerprint()
    try:
        if manifest.is_file() and stamp.read_text() == fingerprint:
            return False
    except FileNotFoundError:
        pass
    call_command("collectstatic", interactive=False, verbosity=verbosity)
    stamp.write_text(fingerprint)
    return True


class NodeModulesFinder(BaseFinder):
    """Finds the VENDOR_FILES for collectstatic and for the development server."""

    prefix = "vendor"
    files = VENDOR_FILES

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> Any:
        folder, _, name = path.rpartition("/")
        file = self.files.get(name) if folder == self.prefix else None
        found = str(file) if file is not None and file.is_file() else ""
        if find_all:
            return [found] if found else []
        return found

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        for name, file in self.files.items():
            if file.is_file():
                storage = FileSystemStorage(location=file.parent)
                storage.prefix = self.prefix  # type: ignore[attr-defined]
                yield name, storage


# Brotli's level for the pre-compressed copies: 9 rather than brotli's (and WhiteNoise's) 11.
# The API docs' 1.5 MB script took 3.3 s at 11 and 0.1 s at 9, for 9 % more bytes (365 KB,
# not 334); every first start and every upgrade waits for these (bench/startup.py).
BROTLI_QUALITY = 9


class _Compressor(Compressor):
    """How collectstatic pre-compresses (WhiteNoise's compressor, with the two changes below;
    the fingerprint above includes both)."""

    # Source maps (the API docs' 1.9 MB swagger-ui map, twice) are read only by a browser's
    # developer tools: compressing them was most of the ~13 s of a first start's collectstatic.
    SKIP_COMPRESS_EXTENSIONS = (*Compressor.SKIP_COMPRESS_EXTENSIONS, "map")

    @staticmethod
    def compress_brotli(data: bytes) -> bytes:
        import brotli

        return brotli.compress(data, quality=BROTLI_QUALITY)


class StaticStorage(CompressedManifestStaticFilesStorage):
    """Content-hashed, pre-compressed files from collectstatic. Before collectstatic has run
    (a checkout's tests, `manage` commands), `{% static %}` gives the plain name instead of
    failing, so pages still render."""

    manifest_strict = False

    def create_compressor(self, **kwargs: Any) -> Compressor:
        return _Compressor(**kwargs)

    def stored_name(self, name: str) -> str:
        try:
            return super().stored_name(name)
        except ValueError:
            return name
