"""Duplicati report → `Report`. Pure: bytes in, a value or a `ParseError` out; no database.

Duplicati sends one of (docs/report-format.md describes them and what we read):

- JSON (`--send-http-result-output-format=Json`): `{Data, Extra, LogLines, Exception?}` as the
  raw body. Up to 2.0.7.x a fatal run's `Data` is the serialised exception, with no
  `ParsedResult`, `BeginTime` or `MainOperation`.
- the default text format, form-encoded under any parameter name (`message=` by default):
  a header line, `Name: value` lines, optionally `Failed:`/`Details:` and a `Log data:` section.
  Dates are in the sender's locale, with the unix time in parentheses since 2.0.3.

Everything a report says is kept (`data`, `extra`, `log_lines`); the figures the product uses
are also pulled out into typed fields. Identity (which server, which job) is decided by
`resolve_identity`, because it also depends on the URL and the sender's address.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from duplistatus.monitoring.intervals import parse_duplicati_datetime

STATUSES = ("Success", "Warning", "Error", "Fatal", "Unknown")
_MAX_DEPTH = 64
_INT64_MAX = 2**63 - 1
# Dates outside this window are not moments a backup ran or will run (.NET writes
# DateTime.MaxValue, 9999-12-31, for "never"); adding a schedule's grace or reminder period
# to them would overflow, so they are read as absent.
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(3000, 1, 1, tzinfo=UTC)
_MAX_DURATION_SECONDS = 100 * 366 * 86400


class ParseError(ValueError):
    """The body is not a report we can store. `missing_fields` names what a report lacked."""

    def __init__(self, message: str, missing_fields: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.missing_fields = missing_fields


@dataclass(frozen=True)
class Report:
    format: str  # "json" or "text"
    operation: str
    status: str  # one of STATUSES, after the warning rule
    parsed_result: str  # as Duplicati sent it ("" when it sent none)
    begin_time: datetime
    begin_time_estimated: bool
    end_time: datetime | None
    duration_seconds: float | None
    version: str
    interrupted: bool
    partial_backup: bool
    dryrun: bool
    messages_count: int
    warnings_count: int
    errors_count: int
    stats: dict[str, int]  # run columns: examined_files, bytes_uploaded, ...
    backup_list_count: int | None
    last_backup_date: datetime | None
    data: dict[str, Any]
    extra: dict[str, str | None]
    header: dict[str, str]  # from the text format's first line
    form_fields: dict[str, str]  # other form fields (send-http-extra-parameters)
    log_lines: list[str]
    messages: list[str]
    warnings: list[str]
    errors: list[str]
    exception: str
    available_versions: list[str]
    next_scheduled_run: datetime | None


@dataclass(frozen=True)
class Identity:
    server_key: str  # Server.key: machine id, or "name:…" / "addr:…"
    server_name: str
    job_name: str
    backup_id: str
    source: str = "extra"  # where the server identity came from
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- entry point


def parse_body(
    body: bytes,
    content_type: str = "",
    *,
    local_tz: tzinfo = UTC,
    received_at: datetime | None = None,
) -> Report:
    """Parse one upload body. `local_tz` reads text-format dates that carry no zone;
    `received_at` stands in for BeginTime when a report has none (old fatal reports)."""
    received_at = received_at or datetime.now(UTC)
    if not body or not body.strip():
        raise ParseError("empty body: expected a Duplicati report (JSON or form-encoded text)")
    if body.lstrip()[:1] in (b"{", b"["):
        return _parse_json_document(_decode(body), local_tz, received_at)

    text = _decode(body)
    form_fields: dict[str, str] = {}
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded" or _FORM_START.match(text):
        text, form_fields = _pick_form_value(text)
    elif "\n" not in text.strip() and _PERCENT.search(text):
        text = urllib.parse.unquote(text)  # an encoded value sent without its "name="
    text = clean_text(text.lstrip("\ufeff"))
    if text.lstrip().startswith("{"):
        report = _parse_json_document(text, local_tz, received_at)
    else:
        report = _parse_text(text, local_tz, received_at)
    if form_fields:
        report = _replace(report, form_fields=form_fields)
    return report


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Old Windows senders may use a legacy code page; keep every byte readable.
        return body.decode("latin-1")


MAX_FORM_FIELDS = 10_000
_FORM_START = re.compile(r"^[A-Za-z0-9_.\-\[\]~]{1,100}=")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


def _pick_form_value(text: str) -> tuple[str, dict[str, str]]:
    """The report is the form field that looks like one; any name is allowed."""
    try:
        pairs = urllib.parse.parse_qsl(
            text.strip(), keep_blank_values=True, errors="replace", max_num_fields=MAX_FORM_FIELDS
        )
    except ValueError:
        raise ParseError(f"form body has more than {MAX_FORM_FIELDS:,} fields") from None
    if not pairs:
        raise ParseError("form body has no fields")
    chosen = None
    for index, (_, value) in enumerate(pairs):
        head = value.lstrip()[:200]
        if head.startswith(("Duplicati ", "{")) or _looks_like_text_report(value):
            chosen = index
            break
    if chosen is None:
        if len(pairs) == 1:
            chosen = 0
        else:
            names = ", ".join(sorted({clean_text(name)[:100] for name, _ in pairs})[:10])
            raise ParseError(f"no form field holds a Duplicati report (fields: {names})")
    others = {
        clean_text(name)[:100]: clean_text(value)[:500]
        for i, (name, value) in enumerate(pairs)
        if i != chosen
    }
    return pairs[chosen][1], others


def _looks_like_text_report(text: str) -> bool:
    return bool(re.search(r"^(ParsedResult|MainOperation|BeginTime|Failed): ", text, re.M))


# --------------------------------------------------------------------------- JSON


def _reject_constant(name: str) -> Any:
    raise ParseError(f"invalid JSON: {name} is not a number JSON allows")


def _parse_json_document(text: str, local_tz: tzinfo, received_at: datetime) -> Report:
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("invalid JSON: nested too deeply") from None
    except ValueError as exc:
        raise ParseError(f"invalid JSON: {exc}") from None
    doc = _sanitized(doc, text)
    if not isinstance(doc, dict):
        raise ParseError("expected a JSON object with Data and Extra", ("Data",))
    if "Data" not in doc and "message" in doc and isinstance(doc["message"], str):
        # Some relays wrap the form value as {"message": "<text>"}.
        return _parse_text(doc["message"], local_tz, received_at)
    data = doc.get("Data")
    if not isinstance(data, dict):
        raise ParseError("Data must be a JSON object holding the Duplicati result", ("Data",))
    extra_raw = doc.get("Extra")
    extra_raw = {} if extra_raw is None else extra_raw
    if not isinstance(extra_raw, dict):
        raise ParseError("Extra must be a JSON object of strings", ("Extra",))
    extra = {str(k)[:200]: (None if v is None else str(v)[:2000]) for k, v in extra_raw.items()}
    if remote_url := extra.get("RemoteUrl"):
        extra["RemoteUrl"] = redact_url(remote_url)
    log_lines_raw = doc.get("LogLines")
    log_lines_raw = [] if log_lines_raw is None else log_lines_raw
    if not isinstance(log_lines_raw, list):
        raise ParseError("LogLines must be a list of strings")
    log_lines = [str(line) for line in log_lines_raw]
    exception = doc.get("Exception")
    exception_text = "" if exception is None else str(exception)

    failed = _is_exception_object(data)  # ≤ 2.0.7.x fatal: Data is the exception itself
    if failed:
        exception_text = exception_text or _exception_text(data)
    return _build(
        fmt="json",
        data=data,
        extra=extra,
        header={},
        log_lines=log_lines,
        exception=exception_text,
        failed=failed,
        received_at=received_at,
        local_tz=local_tz,
    )


def _sanitize(value: Any, depth: int = 0) -> Any:
    """Strip what no database column can hold (NUL, lone surrogates); bound the nesting."""
    if depth > _MAX_DEPTH:
        raise ParseError("invalid report: nested too deeply")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): _sanitize(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_sanitize(v, depth + 1) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _INT64_MAX:
        return str(value)  # keep the digits; no column or JSON engine overflows
    return value


# In a JSON text that json.loads accepted, a NUL or a lone surrogate can only come from a
# \u escape (raw control characters are refused; the text was decoded strictly).
_ESCAPES_TO_CLEAN = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _sanitized(doc: Any, text: str) -> Any:
    """_sanitize(doc); without its copy of every string, dict and list when `text` (what
    `doc` was parsed from) escapes no NUL and no surrogate: then only the nesting and the
    integers need a look (in place). Most reports: a fifth of an upload's CPU saved."""
    if _ESCAPES_TO_CLEAN.search(text):
        return _sanitize(doc)
    _check_shape(doc, 0)
    return doc


def _check_shape(value: Any, depth: int) -> None:
    """_sanitize's bounds on a document with nothing to strip: the nesting (a container at
    _MAX_DEPTH may hold nothing), and integers beyond 64 bits kept as their digits."""
    if depth > _MAX_DEPTH or (value and depth >= _MAX_DEPTH and type(value) in (dict, list)):
        raise ParseError("invalid report: nested too deeply")
    if type(value) is dict:
        items: Any = value.items()
    elif type(value) is list:
        items = enumerate(value)
    else:
        return
    for key, item in items:
        kind = type(item)
        if kind is dict or kind is list:
            _check_shape(item, depth + 1)
        elif kind is int and abs(item) > _INT64_MAX:
            value[key] = str(item)


def clean_text(text: str) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _is_exception_object(data: dict[str, Any]) -> bool:
    if "ParsedResult" in data or "MainOperation" in data:
        return False
    return "Message" in data and any(
        k in data
        for k in ("StackTrace", "StackTraceString", "ClassName", "InnerException", "HResult")
    )


def _exception_text(data: dict[str, Any]) -> str:
    kind = data.get("ClassName") or "Exception"
    parts = [f"{kind}: {data.get('Message', '')}"]
    inner = data.get("InnerException")
    if isinstance(inner, dict) and inner.get("Message"):
        parts.append(f" ---> {inner.get('ClassName') or 'Exception'}: {inner['Message']}")
    trace = data.get("StackTrace") or data.get("StackTraceString")
    if trace:
        parts.append(str(trace))
    return "\n".join(parts)


# --------------------------------------------------------------------------- text


_HEADER = re.compile(r"^Duplicati (?P<op>\w+) report for (?P<rest>.*)$")
# 2.1+: "name (machine-id, backup-id, machine-name)"; 2.0.8: "name (machine-id, backup-id)".
# Names may hold parentheses themselves ("Clete MacBook Pro (IL)"), so the suffix only
# counts when it starts with a 32-hex machine id.
_HEADER_SUFFIX = re.compile(
    r"^(?P<name>.*) \((?P<mid>[0-9a-fA-F]{32}), (?P<bid>[^,]*)(?:, (?P<mname>.*))?\)$"
)
_PROPERTY = re.compile(r"^(?P<name>[A-Z][A-Za-z0-9]*): ?(?P<value>.*)$")
_LOG_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?P<off>[+-]\d{2}) - "
    r"\[(?P<level>[A-Za-z]+)-(?P<tag>[^\]]*)\]: (?P<message>.*)$"
)


def _parse_text(text: str, local_tz: tzinfo, received_at: datetime) -> Report:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    header: dict[str, str] = {}
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index < len(lines) and (match := _HEADER.match(lines[index].strip())):
        header["operation"] = match["op"]
        rest = match["rest"].strip()
        if suffix := _HEADER_SUFFIX.match(rest):
            header.update(
                {
                    "backup-name": suffix["name"],
                    "machine-id": suffix["mid"].lower(),
                    "backup-id": suffix["bid"].strip(),
                }
            )
            if suffix["mname"]:
                header["machine-name"] = suffix["mname"].strip()
        elif rest:
            header["backup-name"] = rest
        index += 1

    data: dict[str, Any] = {}
    failed_message: str | None = None
    details: list[str] = []
    log_lines: list[str] = []
    in_details = False
    while index < len(lines):
        line = lines[index]
        index += 1
        if line.strip() == "Log data:":
            log_lines = _split_log_lines(lines[index:])
            break
        if line.startswith("Failed: "):
            failed_message = line[len("Failed: ") :]
            in_details = False
            continue
        if line.startswith("Details: "):
            details = [line[len("Details: ") :]]
            in_details = True
            continue
        if in_details:
            # The exception runs until a blank line or the property dump that follows it.
            if line.strip() and not (_PROPERTY.match(line) and not line.startswith(" ")):
                details.append(line)
                continue
            in_details = False
            if not line.strip():
                continue
        match = _PROPERTY.match(line)
        if not match:
            continue
        name, value = match["name"], match["value"].strip()
        if value == "[":
            items: list[str] = []
            while index < len(lines) and lines[index].strip() != "]":
                items.append(lines[index].strip().rstrip(","))
                index += 1
            index += 1
            data[name] = items
        elif value == "[]":
            data[name] = []
        else:
            data[name] = _text_scalar(value, local_tz)

    if failed_message is None and not data:
        raise ParseError(
            "not a Duplicati report: expected JSON with Data and Extra, or the text format "
            "('Duplicati Backup report for …' followed by 'Name: value' lines)"
        )
    exception = "\n".join(details).strip() or (failed_message or "")
    if failed_message is not None and "Message" not in data:
        data["FailedMessage"] = failed_message
    return _build(
        fmt="text",
        data=data,
        extra={},
        header=header,
        log_lines=log_lines,
        exception=exception,
        failed=failed_message is not None,
        received_at=received_at,
        local_tz=local_tz,
    )


def _split_log_lines(lines: list[str]) -> list[str]:
    """Log entries start with a timestamp; an exception continues on the lines below."""
    entries: list[str] = []
    for line in lines:
        if _LOG_LINE.match(line) or not entries:
            if line.strip() or entries:
                entries.append(line)
        else:
            entries[-1] += "\n" + line
    while entries and not entries[-1].strip():
        entries.pop()
    return [entry.rstrip("\n") for entry in entries]


_UNIX_SUFFIX = re.compile(r"^(?P<local>.*?)\s*\((?P<unix>-?\d{1,12})\)$")
_LOCAL_DATE_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",  # en-US
    "%Y-%m-%d %I:%M:%S %p",
    "%Y-%m-%d %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",  # de
    "%d/%m/%Y %H:%M:%S",  # en-GB, fr
    "%d-%m-%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
)


def _text_scalar(value: str, local_tz: tzinfo) -> Any:
    if value in ("True", "False"):
        return value == "True"
    if re.fullmatch(r"-?\d{1,19}", value):
        number = int(value)
        return number if abs(number) <= _INT64_MAX else value
    if match := _UNIX_SUFFIX.match(value):
        try:
            return _iso(datetime.fromtimestamp(int(match["unix"]), UTC))
        except (OverflowError, OSError, ValueError):
            return value
    if local := _parse_local_datetime(value, local_tz):
        return _iso(local)
    return value


def _parse_local_datetime(value: str, local_tz: tzinfo) -> datetime | None:
    if not re.match(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4} \d", value):
        return None
    for fmt in _LOCAL_DATE_FORMATS:
        try:
            naive = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return naive.replace(tzinfo=local_tz).astimezone(UTC)
    return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- common


_STATS = {
    "examined_files": "ExaminedFiles",
    "opened_files": "OpenedFiles",
    "added_files": "AddedFiles",
    "modified_files": "ModifiedFiles",
    "deleted_files": "DeletedFiles",
    "size_of_examined_files": "SizeOfExaminedFiles",
    "size_of_added_files": "SizeOfAddedFiles",
    "size_of_modified_files": "SizeOfModifiedFiles",
    "files_with_error": "FilesWithError",
}
_BACKEND_STATS = {
    "bytes_uploaded": "BytesUploaded",
    "bytes_downloaded": "BytesDownloaded",
    "known_file_count": "KnownFileCount",
    "known_file_size": "KnownFileSize",
}


def _build(
    *,
    fmt: str,
    data: dict[str, Any],
    extra: dict[str, str | None],
    header: dict[str, str],
    log_lines: list[str],
    exception: str,
    failed: bool,
    received_at: datetime,
    local_tz: tzinfo,
) -> Report:
    backend = data.get("BackendStatistics")
    backend = backend if isinstance(backend, dict) else {}
    parsed_result = _text(data.get("ParsedResult"))
    operation = (
        _text(data.get("MainOperation"))
        or _text(extra.get("OperationName"))
        or header.get("operation", "")
        or "Backup"
    )[:40]

    begin_time = _datetime(data.get("BeginTime"), local_tz)
    end_time = _datetime(data.get("EndTime"), local_tz)
    duration = _timespan(data.get("Duration"))
    estimated = False
    missing: list[str] = []
    if begin_time is None:
        if failed:
            # Old fatal reports carry no times: the first log line is the best witness.
            begin_time = _plausible(_first_log_time(log_lines)) or received_at
            estimated = True
        else:
            missing.append("BeginTime")
    if not failed and not parsed_result:
        missing.append("ParsedResult")
    if missing:
        raise ParseError(
            "missing required fields: " + ", ".join(f"Data.{name}" for name in missing),
            tuple(f"Data.{name}" for name in missing),
        )
    assert begin_time is not None
    if duration is None and end_time is not None and end_time >= begin_time:
        duration = (end_time - begin_time).total_seconds()
    if end_time is None and duration is not None and duration > 0:
        end_time = begin_time + timedelta(seconds=duration)

    messages, warnings, errors = _split_messages(data, log_lines)
    warnings_count = _int(data.get("WarningsActualLength"), default=len(warnings))
    errors_count = _int(data.get("ErrorsActualLength"), default=len(errors))
    messages_count = _int(data.get("MessagesActualLength"), default=len(messages))
    status = _status(parsed_result, failed=failed, warnings_count=warnings_count)
    if failed and errors_count == 0:
        errors_count = max(1, len(errors))

    return Report(
        format=fmt,
        operation=operation,
        status=status,
        parsed_result=parsed_result[:10],
        begin_time=begin_time,
        begin_time_estimated=estimated,
        end_time=end_time,
        duration_seconds=duration,
        version=(_text(data.get("Version")) or _text(backend.get("Version")))[:100],
        interrupted=data.get("Interrupted") is True,
        partial_backup=data.get("PartialBackup") is True,
        dryrun=data.get("Dryrun") is True,
        messages_count=messages_count,
        warnings_count=warnings_count,
        errors_count=errors_count,
        stats={
            **{column: _int(data.get(key)) for column, key in _STATS.items()},
            **{column: _int(backend.get(key)) for column, key in _BACKEND_STATS.items()},
        },
        backup_list_count=_int(backend["BackupListCount"])
        if "BackupListCount" in backend
        else None,
        last_backup_date=_datetime(backend.get("LastBackupDate"), local_tz),
        data=data,
        extra=extra,
        header=header,
        form_fields={},
        log_lines=log_lines,
        messages=messages,
        warnings=warnings,
        errors=errors,
        exception=exception,
        available_versions=available_versions(log_lines),
        next_scheduled_run=_plausible(parse_duplicati_datetime(extra.get("next-scheduled-run"))),
    )


def _status(parsed_result: str, *, failed: bool, warnings_count: int) -> str:
    if failed:
        return "Fatal"
    normalized = parsed_result.capitalize()
    status = normalized if normalized in STATUSES else "Unknown"
    # The original's rule: a Success that carries warnings is a Warning.
    if status == "Success" and warnings_count > 0:
        return "Warning"
    return status


def _split_messages(
    data: dict[str, Any], log_lines: list[str]
) -> tuple[list[str], list[str], list[str]]:
    """Pre-2.0.3 text reports list Messages/Warnings/Errors; later ones only log lines."""
    if any(isinstance(data.get(k), list) for k in ("Messages", "Warnings", "Errors")):
        return tuple(  # type: ignore[return-value]
            [str(item) for item in data.get(k) or [] if isinstance(data.get(k), list)]
            for k in ("Messages", "Warnings", "Errors")
        )
    warnings, errors = [], []
    for line in log_lines:
        match = _LOG_LINE.match(line.split("\n", 1)[0])
        level = match["level"] if match else ""
        if level == "Warning":
            warnings.append(line)
        elif level == "Error":
            errors.append(line)
    return list(log_lines), warnings, errors


def _first_log_time(log_lines: list[str]) -> datetime | None:
    for line in log_lines:
        if match := _LOG_LINE.match(line.split("\n", 1)[0]):
            try:
                naive = datetime.strptime(match["ts"], "%Y-%m-%d %H:%M:%S")
                offset = timedelta(hours=int(match["off"]))
                return (naive - offset).replace(tzinfo=UTC)
            except ValueError:
                continue
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, int):
        return value if abs(value) <= _INT64_MAX else default
    if isinstance(value, float) and value == value and abs(value) < 9e18:
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
        return int(value)
    return default


def _datetime(value: Any, local_tz: tzinfo) -> datetime | None:
    """ISO-8601 as Newtonsoft writes it; year 1 means "never set"."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return _plausible(_parse_local_datetime(value.strip(), local_tz))
    if moment.year <= 1:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # BeginTime/EndTime are UTC in Duplicati
    try:
        return _plausible(moment.astimezone(UTC))
    except (OverflowError, ValueError):
        return None


def _plausible(moment: datetime | None) -> datetime | None:
    return moment if moment is not None and _EARLIEST <= moment < _LATEST else None


_TIMESPAN = re.compile(
    r"^(?P<neg>-)?(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})"
    r"(?:\.(?P<frac>\d{1,7}))?$"
)


def _timespan(value: Any) -> float | None:
    """.NET TimeSpan `[-][d.]hh:mm:ss[.fffffff]`; the days part counts (the original drops it)."""
    if not isinstance(value, str):
        return None
    match = _TIMESPAN.match(value.strip())
    if not match:
        return None
    seconds = (
        int(match["days"] or 0) * 86400
        + int(match["h"]) * 3600
        + int(match["m"]) * 60
        + int(match["s"])
        + float("0." + (match["frac"] or "0"))
    )
    if seconds > _MAX_DURATION_SECONDS:
        return None  # not a real run's duration; begin + duration would overflow
    return -seconds if match["neg"] else seconds


_VERSIONS_TO_CONSIDER = re.compile(r"Backups to consider: (?P<list>.*)")
_VERSIONS_TO_DELETE = re.compile(r"All backups to delete: (?P<list>.*)")
_VERSION_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%d-%m-%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
)


def available_versions(log_lines: list[str]) -> list[str]:
    """Backup versions kept at the destination, read from the retention-policy log lines.

    Duplicati lists them in the sender's locale, so each is kept as written; the original
    shows them the same way.
    """
    consider: list[str] = []
    delete: set[str] = set()
    for line in log_lines:
        if match := _VERSIONS_TO_CONSIDER.search(line):
            consider = _version_list(match["list"])
        elif match := _VERSIONS_TO_DELETE.search(line):
            delete.update(_version_list(match["list"]))
    return [version for version in consider if version not in delete]


def _version_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


# --------------------------------------------------------------------------- identity


_QUERY_SERVER_ID = ("machine-id", "machine_id", "server-id", "server_id")
_QUERY_SERVER_NAME = ("server", "machine-name", "machine_name", "machine", "host")
_QUERY_JOB = ("job", "backup-name", "backup_name", "backup")
_QUERY_BACKUP_ID = ("backup-id", "backup_id")


def resolve_identity(report: Report, query: Mapping[str, str], remote_addr: str) -> Identity:
    """Which server and job a report belongs to. First found wins, field by field:

    1. the report's `Extra` (`machine-id`, `machine-name`, `backup-name`, `backup-id`);
    2. query parameters on the upload URL, or extra form fields
       (`?server=NAS&job=Photos`, also `machine-id`, `machine-name`, `backup-name`, `backup-id`);
    3. the text format's header (`Duplicati Backup report for NAME (machine-id, DB-1, host)`);
    4. the sender's address (servers only); a job with no name anywhere is called "default".
    """
    params = {
        **report.form_fields,
        **{k: clean_text(v) for k, v in query.items() if isinstance(v, str)},
    }

    def first(
        extra_key: str, query_keys: tuple[str, ...], header_key: str | None
    ) -> tuple[str, str]:
        value = (report.extra.get(extra_key) or "").strip()
        if value:
            return value, "extra"
        for key in query_keys:
            if (params.get(key) or "").strip():
                return params[key].strip(), "query"
        if header_key and (report.header.get(header_key) or "").strip():
            return report.header[header_key].strip(), "header"
        return "", ""

    machine_id, id_source = first("machine-id", _QUERY_SERVER_ID, "machine-id")
    machine_name, name_source = first("machine-name", _QUERY_SERVER_NAME, "machine-name")
    job_name, _ = first("backup-name", _QUERY_JOB, "backup-name")
    backup_id, _ = first("backup-id", _QUERY_BACKUP_ID, "backup-id")

    if machine_id:
        key, source = machine_id, id_source
    elif machine_name:
        key, source = "name:" + machine_name, name_source
    else:
        address = clean_text(remote_addr) or "unknown"
        key, source = "addr:" + address, "address"
        machine_name = address
    return Identity(
        server_key=key[:200],
        server_name=(machine_name or machine_id)[:200],
        job_name=(job_name or "default")[:200],
        backup_id=backup_id[:200],
        source=source,
    )


_SECRET_QUERY = re.compile(r"(?i)([?&][^=&]*(?:pass|secret|key|token|auth)[^=&]*=)[^&]*")


def redact_url(url: str) -> str:
    """Duplicati's RemoteUrl may carry credentials if a user templated it in."""
    redacted = re.sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", url)
    return _SECRET_QUERY.sub(r"\1***", redacted)


def _replace(report: Report, **changes: Any) -> Report:
    from dataclasses import replace

    return replace(report, **changes)
