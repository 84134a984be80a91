"""Sizes and durations as the pages, charts and notifications write them."""

from __future__ import annotations

from django.utils import translation

from duplistatus.humanize import format_duration, human_size
from duplistatus.web.templatetags.ui import num


def test_sizes_are_steps_of_1024_labelled_as_such():
    assert human_size(None) == "0 B"
    assert human_size(1023) == "1023 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(7_736_156_915) == "7.2 GiB"  # 7.7 "GB" in steps of 1,000
    assert human_size(3 * 1024**4) == "3.0 TiB"
    assert human_size(5 * 1024**5) == "5.0 PiB"


def test_durations_are_whole_seconds_truncated_as_the_original_prints_them():
    assert format_duration(49.6596191) == "00:00:49"
    assert format_duration(59.999) == "00:00:59"
    assert format_duration(3600 * 26 + 61) == "26:01:01"  # hours go past 24
    assert format_duration(0) == "00:00:00"


def test_numbers_and_sizes_are_written_as_the_active_language_writes_them():
    """German writes decimals with a comma and groups thousands with a dot; the binary unit
    symbols stay as they are in every language."""
    with translation.override("de"):
        assert human_size(1536) == "1,5 KiB"
        assert human_size(7_736_156_915) == "7,2 GiB"
        assert human_size(1023) == "1023 B"
        assert num(1_234_567) == "1.234.567"
        assert num(1234.5) == "1.234,50"
    with translation.override("en"):
        assert human_size(1536) == "1.5 KiB"
        assert num(1_234_567) == "1,234,567"
        assert num(1234.5) == "1,234.50"
