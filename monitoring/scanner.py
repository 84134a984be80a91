"""Finds jobs whose alert time has passed and writes overdue/reminder/escalation events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ScanResult:
    overdue: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.overdue)


def scan(now: datetime) -> ScanResult:
    return ScanResult()
