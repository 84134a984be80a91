"""What a destination may see. Pure: a channel's privacy settings and the template variables
in, the variables to render for that channel out."""

from __future__ import annotations

import re
from typing import Any

# Absolute paths: /home/ann/Photos/x.jpg, C:\Users\ann\x.docx, \\nas\share\x (not URLs).
_PATH = re.compile(
    r'(?:(?<![\w:/.])/|\b[A-Za-z]:\\|\\\\)(?:[^\s\\/:*?"<>|]+[\\/])+[^\s\\/:*?"<>|]*'
)
PATH_PLACEHOLDER = "[path]"


def hide_paths(text: str) -> str:
    return _PATH.sub(PATH_PLACEHOLDER, text)


def apply(channel: Any, values: dict[str, Any]) -> dict[str, Any]:
    if not (channel.hide_log_text or channel.hide_paths or channel.use_server_alias):
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
    return values
