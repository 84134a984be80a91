"""What a destination may see. Pure: a channel's privacy settings and the template variables
(or the webhook document) in, what that channel gets out. The text, the webhook JSON and
every field made from them (ntfy title and message, e-mail subject and bodies, Apprise)
follow the same settings."""

from __future__ import annotations

import copy
import re
from typing import Any

# Absolute paths: /home/ann/Photos/x.jpg, C:\Users\ann\x.docx, \\nas\share\x (not URLs).
_PATH = re.compile(
    r'(?:(?<![\w:/.])/|\b[A-Za-z]:\\|\\\\)(?:[^\s\\/:*?"<>|]+[\\/])+[^\s\\/:*?"<>|]*'
)
PATH_PLACEHOLDER = "[path]"


def hide_paths(text: str) -> str:
    return _PATH.sub(PATH_PLACEHOLDER, text)


def settings(channel: Any) -> tuple[bool, bool, bool]:
    return (channel.hide_log_text, channel.hide_paths, channel.use_server_alias)


def is_private(channel: Any) -> bool:
    return any(settings(channel))


def apply(channel: Any, values: dict[str, Any]) -> dict[str, Any]:
    if not is_private(channel):
        return values
    values = dict(values)
    if channel.hide_log_text:
        values["log_text"] = ""
        values["exception"] = ""
    if channel.hide_paths:
        for name in ("log_text", "exception", "server_note"):
            if isinstance(values.get(name), str):
                values[name] = hide_paths(values[name])
    if channel.use_server_alias:
        values["server_name"] = values.get("server_alias") or values.get("server_name", "")
        values["server_url"] = ""  # the Duplicati UI's address names the real machine
    return values


def apply_to_payload(channel: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """The webhook document as `channel` may see it. Its texts were rendered from `apply`'s
    variables already; here the server: a private channel never gets the machine id (it
    identifies the real machine), and with the alias the server's name is the alias."""
    if not is_private(channel) or not isinstance(payload.get("server"), dict):
        return payload
    payload = copy.deepcopy(payload)
    server = payload["server"]
    server.pop("machine_id", None)
    if channel.use_server_alias:
        server["name"] = server.get("alias") or server.get("name", "")
    return payload
