"""Hostile templates: what once ran unbounded (string doubling to 205 M characters, powers
that took seconds, loops in loops) now stops at a limit, quickly, with a message that says
which limit. Every case here ran for seconds or exhausted memory before the limits."""

from __future__ import annotations

import time

import pytest

from duplistatus.notifications import templates
from duplistatus.notifications.templates import (
    PREVIEW_SECONDS,
    ResolvedTemplate,
    TemplateError,
    render,
    render_message,
    sample_context,
)

LONG = "longer than 200,000 characters"
HOSTILE = {
    "string doubling with ~": (
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        LONG,
    ),
    "string doubling with +": (
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}",
        LONG,
    ),
    "loops in loops": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        "more than 100,000 loop rounds and calls",
    ),
    "a big power": ("{{ ((9**64)**64)**64 }}", "more than 1,228 digits"),
    "repeated squaring": (
        "{% set ns = namespace(n=9**64) %}{% for i in range(30) %}{% set ns.n = ns.n * ns.n %}"
        "{% endfor %}",
        "more than 1,228 digits",
    ),
    "a macro that calls itself twice": (
        "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
        "more than",  # steps or time, whichever comes first on this machine
    ),
    "a captured block": (
        "{% set s = 'x'*100000 %}{% filter upper %}{% for i in range(50000) %}{{ s }}"
        "{% endfor %}{% endfilter %}",
        LONG,
    ),
    "replace": ("{{ ('a'*100000)|replace('a', 'a'*10000)|length }}", LONG),
    "join": ("{{ range(100000)|join('a'*10000)|length }}", LONG),
    "str.ljust": ("{{ 'x'.ljust(100000000)|length }}", LONG),
    "center": ("{{ 'x'|center(100000000)|length }}", "widths above 1000"),
    "printf width": ("{{ '%0100000000d'|format(1)|length }}", "widths above 1000"),
    "printf width with %": ("{{ ('%0' ~ 100000000 ~ 'd') % 1 }}", "widths above 1000"),
    "str.format nested width": ("{{ '{:>{}}'.format('x', 100000000) }}", "widths above 1000"),
    "batch padding": ("{{ [1]|batch(100000000, 'x')|list|length }}", "a batch would be longer"),
    "slow steps": (
        "{% set s = 'ab'*100000 %}{% for i in range(50000) %}{% if s|replace('a','c') %}"
        "{% endif %}{% endfor %}",
        f"more than {PREVIEW_SECONDS * 1000:.0f} ms",
    ),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_template_stops_at_a_limit_quickly(name):
    text, message = HOSTILE[name]
    started = time.monotonic()
    with pytest.raises(TemplateError) as caught:
        render(text, sample_context("error"), seconds=PREVIEW_SECONDS)
    assert time.monotonic() - started < PREVIEW_SECONDS + 0.5  # + one step, on a busy machine
    assert message in caught.value.message
    assert caught.value.limit


@pytest.mark.parametrize(
    "text",
    [
        "{backup_name} " * 2000,  # too many to compile quickly
        "{{ " + "1+" * 100 + "1 }}",  # nested too deeply to compile quickly
        "{{" + "(" * 3000 + "1" + ")" * 3000 + "}}",  # once a RecursionError (a 500)
    ],
)
def test_a_template_too_big_to_compile_quickly_is_refused_on_validation(text):
    started = time.monotonic()
    with pytest.raises(TemplateError, match="too long to compile|nested too deeply"):
        templates.validate(text, "error")
    assert time.monotonic() - started < PREVIEW_SECONDS


def test_lipsum_and_changing_lists_are_not_available():
    with pytest.raises(TemplateError, match="'lipsum' is undefined"):
        render("{{ lipsum(100000) }}", {})
    with pytest.raises(TemplateError, match="unsafe"):
        render("{% set l = [] %}{{ l.append(1) }}", {})


def test_what_templates_really_do_still_works():
    text = (
        "{% for line in log_text.splitlines() %}- {{ line|truncate(40) }}\n{% endfor %}"
        "{{ '%5.1f' % 3.14159 }}|{{ '{:>8}'.format(status) }}|{{ backup_name ~ '!' }}|"
        "{{ file_count * 2 }}|{{ 2**10 }}|{{ [status]|join(', ') }}|{{ 'x'|center(5) }}|"
        "{{ status|replace('r', 'R') }}|{{ log_text|wordwrap(30)|length > 0 }}"
    )
    rendered = render(text, sample_context("error"))
    assert rendered.startswith("- 2026-03-02 02:07:42 +00 -...\n- 2026")
    assert rendered.endswith("  3.1|   Error|Documents!|20468|1024|Error|  x  |ERRoR|True")


def test_a_template_that_hits_a_limit_when_sent_falls_back_and_says_why():
    # Fine with the sample data (Documents), a loop in a loop for a real job (Photos).
    slow = ResolvedTemplate(
        "{backup_name}",
        "{% if backup_name != 'Documents' %}{% for a in range(100000) %}"
        "{% for b in range(100000) %}{% endfor %}{% endfor %}{% endif %}{backup_name}",
    )
    templates.validate_template("error", slow.title, slow.body)
    values = sample_context("error") | {"backup_name": "Photos"}
    started = time.monotonic()
    message = render_message(slow, values, kind="error", channel_kind="ntfy")
    assert time.monotonic() - started < templates.SEND_SECONDS + 0.5
    assert message.title == "❌ Photos on Office NAS: Error"  # the built-in text
    assert message.note == (
        "the error template for ntfy failed (the template repeats too often (more than "
        "100,000 loop rounds and calls)); sent the built-in text"
    )
