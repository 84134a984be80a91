"""Secrets at rest: channel passwords, tokens, webhook secrets and Apprise URLs are stored
encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under keys kept in the data dir.

The key file `encryption.keys` (mode 0600) holds one key per line, newest first. Decryption
tries every key, so `duplistatus rotate-key` can add a new key, re-encrypt everything with it,
and only then drop the old one.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

# `cryptography` is imported where it is used: a web process that never touches a secret
# does not carry its ~8 MB.


class SecretsUnreadable(Exception):
    """No key in the key file opens this value (the key file was replaced or lost)."""


def key_file() -> Path:
    return Path(settings.DATA_DIR) / "encryption.keys"


def _write_keys(keys: list[bytes]) -> None:
    path = key_file()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(b"\n".join(keys) + b"\n")
    os.replace(tmp, path)
    _fernet.cache_clear()


def _read_keys() -> list[bytes]:
    try:
        return [line.strip() for line in key_file().read_bytes().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


@cache
def _fernet() -> MultiFernet:
    from cryptography.fernet import Fernet, MultiFernet

    keys = _read_keys()
    if not keys:
        keys = [Fernet.generate_key()]
        _write_keys(keys)
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(values: dict[str, Any]) -> str:
    """Encrypt a JSON-able dict; an empty dict is stored as ""."""
    if not values:
        return ""
    return _fernet().encrypt(json.dumps(values).encode()).decode()


def decrypt(token: str) -> dict[str, Any]:
    if not token:
        return {}
    from cryptography.fernet import InvalidToken

    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        pass
    # Another process may have rotated the key: read the key file again before giving up.
    _fernet.cache_clear()
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise SecretsUnreadable(
            "stored secrets cannot be decrypted with the current keys"
        ) from None


def begin_rotation() -> None:
    """Put a new key first; old keys still decrypt until `finish_rotation`."""
    from cryptography.fernet import Fernet

    _fernet()  # make sure a key file exists
    _write_keys([Fernet.generate_key(), *_read_keys()])


def rotate(token: str) -> str:
    """Re-encrypt a stored value under the newest key."""
    return _fernet().rotate(token.encode()).decode() if token else ""


def finish_rotation() -> None:
    _write_keys(_read_keys()[:1])
