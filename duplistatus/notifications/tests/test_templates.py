"""Templates without the API: syntax (the original's `{name}` and Jinja), validation errors a
person can act on, the sandbox, escaping per format, the choice of template per destination,
and the library in every language."""

from __future__ import annotations

import logging

import pytest

from duplistatus import clock
from duplistatus.notifications import languages, template_store, templates
from duplistatus.notifications.template_store import Template, TemplateIn
from duplistatus.notifications.templates import (
    ResolvedTemplate,
    TemplateError,
    render,
    render_message,
    render_template,
    sample_context,
    validate,
    validate_template,
)

LANGUAGES = ("en", "de", "fr", "es", "pt-br", "zh-hans", "hi")


@pytest.fixture(autouse=True)
def _fresh_cache():
    templates.forget_cache()
    yield
    templates.forget_cache()


# --------------------------------------------------------------------------- syntax


def test_the_originals_templates_render_unchanged():
    legacy = "Backup {backup_name} on {server_name}: {status} ({ errors_count } errors)"
    values = {"backup_name": "Photos", "server_name": "nas", "status": "Error", "errors_count": 2}
    assert render(legacy, values) == "Backup Photos on nas: Error (2 errors)"
    validate(legacy, "error")


def test_legacy_and_jinja_mix_and_other_braces_stay():
    text = '{backup_name}{% if errors_count > 1 %}: {{ errors_count }} errors{% endif %} {"a": 1}'
    assert render(text, {"backup_name": "Photos", "errors_count": 3}) == 'Photos: 3 errors {"a": 1}'


def test_block_tags_on_their_own_line_leave_no_blank_line():
    text = "one\n{% if log_text %}\n{{ log_text }}\n{% endif %}\ntwo"
    assert render(text, {"log_text": ""}) == "one\ntwo"
    assert render(text, {"log_text": "x"}) == "one\nx\ntwo"


# --------------------------------------------------------------------------- validation


def test_unknown_variable_names_line_column_and_the_allowed_variables():
    body = "Backup failed.\n\nJob: {backup_nme} on {server_name}"
    with pytest.raises(TemplateError) as caught:
        validate(body, "error")
    error = caught.value
    assert (error.field, error.line, error.column) == ("body", 3, 7)
    assert "body on line 3, column 7" in error.message
    assert "unknown variable 'backup_nme'" in error.message
    assert "did you mean 'backup_name'?" in error.message
    assert "error templates may use: available_versions, backup_date" in error.message
    assert error.allowed == templates.allowed_variables("error")
    assert "backup_name" in error.allowed and "log_text" in error.allowed


def test_monitoring_kinds_do_not_have_run_variables():
    with pytest.raises(TemplateError) as caught:
        validate("{backup_name} is overdue\n{log_text}", "overdue")
    assert caught.value.line == 2
    assert "log_text" not in caught.value.allowed
    assert "overdue_for" in caught.value.allowed


def test_syntax_errors_name_the_line():
    with pytest.raises(TemplateError) as caught:
        validate("first\n{% if status %}\nno end", "error", field="title")
    assert caught.value.field == "title"
    assert caught.value.line is not None and "syntax error" in caught.value.message
    with pytest.raises(TemplateError) as caught:
        validate("ok\n{{ status | shout }}", "error")
    assert (caught.value.line, caught.value.message) == (
        2,
        "body on line 2, column 13: unknown filter 'shout'",
    )


def test_a_template_that_fails_on_sample_data_is_refused_with_its_line():
    with pytest.raises(TemplateError) as caught:
        validate("fine\n{{ file_count + 'x' }}", "success")
    assert caught.value.line == 2
    assert "fails with sample data" in caught.value.message


def test_format_and_kind_are_checked():
    with pytest.raises(TemplateError, match="format must be one of"):
        validate_template("error", "t", "b", "rtf")
    with pytest.raises(TemplateError, match="unknown kind 'sucess'"):
        validate("{status}", "sucess")


def test_summary_templates_have_their_own_variables():
    validate("{jobs_failed} failed\n{summary_text}", "summary")
    with pytest.raises(TemplateError) as caught:
        validate("{backup_name}", "summary")
    assert "jobs_overdue" in caught.value.allowed


# --------------------------------------------------------------------------- the sandbox


@pytest.mark.parametrize(
    "text",
    [
        "{{ status.__class__.__mro__ }}",
        "{{ ''.__class__.__subclasses__() }}",
        "{{ 'x' * 100000000 }}",
        "{{ 10 ** 100000 }}",
        "{% for i in range(100000000) %}{% endfor %}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_the_sandbox_refuses_unsafe_or_huge_work(text):
    with pytest.raises(TemplateError):
        validate(text, "error")


def test_output_is_bounded():
    with pytest.raises(TemplateError, match="longer than"):
        render("{% for i in range(99999) %}{{ log_text }}{% endfor %}", {"log_text": "x" * 50})


# --------------------------------------------------------------------------- formats


def test_variables_are_escaped_for_html_and_markdown_and_plain_text_is_untouched():
    values = sample_context("error") | {"server_alias": "<script>alert(1)</script>"}
    html = render_template(templates.builtin("error", "email"), values)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html.html
    assert "<script>" not in html.html
    assert "<script>alert(1)</script>" in html.body  # the text part is text
    plain = render_template(templates.builtin("error"), values)
    assert "<script>alert(1)</script>" in plain.body and not plain.html
    markdown = render_template(templates.builtin("error", "ntfy"), values)
    assert "\\<script\\>alert\\(1\\)\\</script\\>" in markdown.markdown
    assert "on <script>alert(1)</script> failed" in markdown.body


def test_a_report_name_cannot_put_a_link_into_a_markdown_message():
    name = "[Update now](https://evil.example/x) *urgent* <b>x</b> C:\\Temp\\a_b"
    log = "2026-03-02 [Error] ```\n[click](https://evil.example)"
    values = sample_context("error") | {"backup_name": name, "log_text": log}
    message = render_template(templates.builtin("error", "ntfy"), values)
    # Escaped: shown as written, no link, no emphasis, no HTML.
    assert message.markdown.startswith(
        "**\\[Update now\\]\\(https://evil.example/x\\) \\*urgent\\* \\<b\\>x\\</b\\> "
        "C:\\\\Temp\\\\a\\_b** on **Office NAS** failed"
    )
    # In the code block the log stays literal, and cannot close the block early.
    assert "```\n2026-03-02 [Error] `\u200b`\u200b`\n[click](https://evil.example)\n```" in (
        message.markdown
    )
    assert message.markdown.endswith("[Open the run](http://localhost:9666/runs/1)")
    # The plain-text body shows the name exactly as it is.
    assert message.body.startswith(f"{name} on Office NAS failed")
    custom = ResolvedTemplate("t", "{backup_name}: {summary_text}", format="markdown")
    summary = "nas / Photos — Error http://localhost:9666/jobs/1/"
    rendered = render_template(custom, values | {"summary_text": summary})
    assert rendered.markdown.endswith(f": {summary}")  # addresses stay links
    plain = render_template(ResolvedTemplate("t", "{backup_name}"), values)
    assert plain.body == name  # plain templates are untouched


def test_html_becomes_readable_text():
    html = (
        "<html><head><title>x</title><style>p{color:red}</style></head><body>"
        "<h1>Backup &amp; more</h1><p>one\n   two <a href='http://x/run'>the run</a></p>"
        "<table><tr><td>Began</td><td>02:00</td></tr><tr><td>Took</td><td>5 min</td></tr>"
        "</table><ul><li>a</li><li>b</li></ul><pre>  keep\n   this</pre></body></html>"
    )
    assert templates.html_to_text(html) == (
        "Backup & more\n\none two the run: http://x/run\n\nBegan: 02:00\nTook: 5 min\n\n"
        "• a\n• b\n\n  keep\n   this"
    )


def test_markdown_becomes_readable_text():
    markdown = (
        "# Title\n**Photos** on __nas__ failed: `Error`\n\n```\nmy_file_*name*\n```\n"
        "[Open the run](http://x/runs/1/) and <http://y/>"
    )
    assert templates.markdown_to_text(markdown) == (
        "Title\nPhotos on nas failed: Error\n\nmy_file_*name*\n"
        "Open the run: http://x/runs/1/ and <http://y/>"
    )


def test_a_broken_saved_template_falls_back_to_the_builtin(caplog):
    broken = ResolvedTemplate("{{ status.upper() }} {backup_name}", "{{ file_count + 'x' }}")
    values = sample_context("error")
    with caplog.at_level(logging.WARNING, "duplistatus.notifications.templates"):
        message = render_message(broken, values, kind="error", channel_kind="ntfy")
    assert message.title == "❌ Documents on Office NAS: Error"
    assert message.markdown.startswith("**Documents** on **Office NAS** failed")
    assert "the error template for ntfy failed" in caplog.text


def test_priority_rules():
    message = render_template(ResolvedTemplate("t", "b", priority=1), {})
    assert message.priority_for(None, 4) == 1  # the template's
    assert message.priority_for(4, 4) == 1  # the kind's default: the template's instead
    assert message.priority_for(5, 4) == 5  # raised by an escalation rule: that wins
    assert render_template(ResolvedTemplate("t", "b"), {}).priority_for(4, 4) == 4


def test_durations_in_other_languages():
    assert templates.span_in("2 days 1 hour", "de") == "2 Tage 1 Stunde"
    assert templates.span_in("less than a minute", "fr") == "moins d'une minute"
    assert templates.span_in("1 day 3 minutes", "pt") == "1 dia 3 minutos"
    assert templates.span_in("1 day 3 minutes", "pt-BR") == "1 dia 3 minutos"
    assert templates.span_in("2 days 3 hours", "zh-Hans") == "2天3小时"
    assert templates.span_in("1 hour 5 minutes", "hi") == "1 घंटा 5 मिनट"
    assert templates.span_in("5 hours", "en") == "5 hours"
    # A duration already in the language (humanize with a catalogue) is left as it is.
    assert templates.span_in("2 Tage 1 Stunde", "de") == "2 Tage 1 Stunde"
    assert templates.span_in("3 minutos", "es") == "3 minutos"


# --------------------------------------------------------------------------- built-ins, library


@pytest.mark.parametrize("kind", templates.KINDS)
def test_every_builtin_validates_and_renders(kind):
    for channel_kind in templates.CHANNEL_KINDS:
        template = templates.builtin(kind, channel_kind)
        validate_template(kind, template.title, template.body, template.format)
        message = render_template(template, sample_context(kind))
        assert message.title and message.body
        assert "{" not in message.title + message.body


def _variants(kind: str) -> list[dict]:
    """Sample data, plus the cases the library's wording branches on."""
    base = sample_context(kind)
    if kind == "summary":
        return [base, base | {"summary_text": ""}]
    return [
        base,
        base | {"warnings_count": 1, "errors_count": 1, "consecutive_failures": 1},
        base | {"log_text": "", "exception": ""},
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_library_validates_and_renders_for_every_kind(language):
    document = template_store.library(language)
    entries = template_store.parse_set(document)  # validates every template
    assert sorted(e.kind for e in entries) == sorted(templates.KINDS)
    assert {e.language for e in entries} == {language}
    for entry in entries:
        template = ResolvedTemplate(entry.title, entry.body, entry.format)
        for values in _variants(entry.kind):
            message = render_template(template, values)
            assert message.title and message.body, (language, entry.kind)
            assert "{" not in message.title + message.body, (language, entry.kind)
            assert len(message.title) <= 90, (language, entry.kind, message.title)
            if entry.kind not in ("summary", "test", *templates.SYSTEM_KINDS):
                assert "Documents" in message.title, (language, entry.kind)


def test_library_languages_are_named():
    assert template_store.library_languages() == {
        "de": "Deutsch",
        "en": "English",
        "es": "Español",
        "fr": "Français",
        "pt-br": "Português (Brasil)",
        "zh-hans": "简体中文",
        "hi": "हिन्दी",
    }
    # Every UI language has its library set, named as the language picker names it.
    assert template_store.library_languages() == languages.names()
    for other_name in ("pt", "pt-BR", "pt_BR"):
        assert template_store.library(other_name)["templates"][0]["language"] == "pt-br"
    assert template_store.library("zh-Hans")["templates"][0]["language"] == "zh-hans"
    for bad in ("../en", "xx", "", "en/../de"):
        with pytest.raises(KeyError):
            template_store.library(bad)


# --------------------------------------------------------------------------- which template


def _save(kind: str, channel_kind: str, title: str, body: str = "b", fmt: str = "plain"):
    data = TemplateIn(kind=kind, channel_kind=channel_kind, title=title, body=body, format=fmt)
    return template_store.create(data, changed_by="test")


@pytest.mark.django_db
def test_resolve_prefers_channel_kind_then_all_channels_then_builtins():
    assert templates.resolve("error", "email").format == "html"
    assert templates.resolve("error", "ntfy").format == "markdown"
    assert templates.resolve("error", "webhook") == templates.DEFAULTS["error"]

    every = _save("error", "", "every {status}")
    assert templates.resolve("error", "email").title == "every {status}"
    assert templates.resolve("error", "ntfy").title == "every {status}"

    _save("error", "email", "mail {status}", "<p>{status}</p>", "html")
    assert templates.resolve("error", "email").title == "mail {status}"
    assert templates.resolve("error", "ntfy").title == "every {status}"
    assert templates.resolve("warning", "email").format == "html"  # other kinds untouched

    template_store.delete(every)
    assert templates.resolve("error", "ntfy").format == "markdown"
    assert templates.resolve("error", "email").title == "mail {status}"


@pytest.mark.django_db
def test_saved_templates_are_cached_and_writes_elsewhere_are_noticed(
    django_assert_num_queries, monkeypatch
):
    templates.resolve("error", "email")
    with django_assert_num_queries(0):
        for _ in range(100):
            templates.resolve("error", "email")
    # Another process saves (no local invalidation): seen at the next check.
    now = clock.now()
    row = Template.objects.create(kind="error", title="other process", body="b", updated_at=now)
    template_store.TemplateVersion.objects.create(
        template=row, number=1, title=row.title, body="b", format="plain", created_at=now
    )
    assert templates.resolve("error", "email").format == "html"  # not yet checked again
    monkeypatch.setattr(templates, "RECHECK_SECONDS", 0)
    assert templates.resolve("error", "email").title == "other process"


@pytest.mark.django_db
def test_using_overrides_one_kind_within_the_block():
    special = ResolvedTemplate("special", "body")
    with templates.using("test", special):
        assert templates.resolve("test", "ntfy") is special
        assert templates.resolve("error", "ntfy").format == "markdown"
    assert templates.resolve("test", "ntfy").title == "duplistatus test message"
