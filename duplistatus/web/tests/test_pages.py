"""Pages rendered by the Django test client: what each shows, who may see and change what,
and that the dashboard's query count does not grow with the number of jobs."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from duplistatus.backups.models import BackupJob, BackupRun, Server

pytestmark = pytest.mark.django_db


def job(server: str, name: str) -> BackupJob:
    return BackupJob.objects.get(server__name=server, name=name)


def test_pages_need_a_session(client):
    for path in ("/", "/settings/monitoring", "/jobs/1", "/settings/users"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/login?next=")
    htmx = client.get("/", HTTP_HX_REQUEST="true")
    assert htmx["HX-Redirect"] == "/login"


def test_dashboard_shows_every_state(admin_client, loaded):
    html = admin_client.get("/").content.decode()
    for text in ("Photos", "Documents", "System", "Mail", "DevTest", "office-pc"):
        assert text in html
    assert 'class="badge h-overdue"' in html
    assert 'class="badge r-error"' in html
    assert 'class="badge r-fatal"' in html
    # Overdue first (attention order), then the failing ones.
    assert html.index(">System<") < html.index(">Documents<") < html.index(">Photos<")


def test_a_failing_job_on_time_is_not_ok(admin_client, loaded):
    """Documents runs on schedule but its last run failed: its health is Failing, it is
    counted as failing and not as OK, and it is listed among what needs a look."""
    html = admin_client.get("/").content.decode()
    documents = next(row for row in html.split("<tr ")[1:] if ">Documents<" in row)
    assert documents.startswith('class="h-failing" data-state="ok"')
    assert ">Documents<" in documents and ">Failing<" in documents and ">OK<" not in documents
    tiles = html[html.index('aria-label="Summary"') :]
    tiles = tiles[: tiles.index("</section>")]
    # Photos and Mail's warning aside, only nas/Photos is fine: failing are Documents and the
    # two fatal ones; overdue is System; Mail warned.
    assert re.search(r'href="\?health=ok"[^>]*><span class="n">1<', tiles)
    assert re.search(r'href="\?health=failing"[^>]*><span class="n">3<', tiles)
    assert re.search(r'href="\?health=warning"[^>]*><span class="n">1<', tiles)
    look = html[html.index('id="attention-h"') :]
    look = look[: look.index("</section>")]
    assert "Documents" in look and "System" in look and "no run since" in look
    assert "Mail" not in look  # a warning is not urgent

    only_failing = admin_client.get("/?health=failing").content.decode()
    assert only_failing.count('<tr class="h-failing"') == 3
    assert '<tr class="h-ok"' not in only_failing


def test_dashboard_strips_show_the_last_runs(admin_client, loaded):
    """Each row has its job's recent runs, oldest first, each a link to its run; the strips
    cost one query for the page, whatever the number of jobs."""
    documents = job("nas", "Documents")
    html = admin_client.get("/").content.decode()
    strip = html[html.index('aria-label="Recent runs of Documents"') :]
    strip = strip[: strip.index("</div>")]
    runs = list(documents.runs.order_by("-begin_time")[:12])[::-1]
    assert strip.count('class="bar ') == len(runs) >= 2
    assert strip.index(f'href="/runs/{runs[0].pk}"') < strip.index(f'href="/runs/{runs[-1].pk}"')
    assert strip.rstrip().endswith("</a>") and 'class="bar r-error"' in strip
    assert strip.count('tabindex="-1"') == len(runs) - 1  # one Tab stop a strip


def test_dashboard_says_why_the_last_run_failed(admin_client, loaded):
    """The first line of a fatal run's exception, in its job's row, its card and its page."""
    devtest = (
        "Duplicati.Library.Interface.UserInformationException: Found 3 files that are missing "
        "from the remote storage, please run repair"
    )
    mega = "Exception: API response: BadArguments"
    for view in ("/", "/?view=cards"):
        html = admin_client.get(view).content.decode()
        assert html.count('class="why"') == 2, view  # Documents failed with no exception
        assert devtest in html and mega in html
        assert "at Duplicati.Library" not in html  # not the stack trace
    html = admin_client.get(f"/jobs/{job('127.0.0.1', 'DevTest').pk}").content.decode()
    assert devtest in html


def test_sizes_are_labelled_in_binary_units(admin_client, loaded):
    photos = job("nas", "Photos")
    for path in ("/", f"/jobs/{photos.pk}", f"/servers/{photos.server_id}"):
        html = admin_client.get(path).content.decode()
        assert " GiB" in html and " GB<" not in html and " MB<" not in html, path


def test_dashboard_filters_sorts_and_answers_htmx(admin_client, loaded):
    overdue = admin_client.get("/?state=overdue").content.decode()
    assert ">System<" in overdue and ">Photos<" not in overdue
    failing = admin_client.get("/?status=failing").content.decode()
    assert ">Documents<" in failing and ">System<" not in failing
    found = admin_client.get("/?q=office+mail").content.decode()
    assert ">Mail<" in found and ">System<" not in found
    by_name = admin_client.get("/?sort=job&desc=1").content.decode()
    assert by_name.index(">System<") < by_name.index(">Photos<") < by_name.index(">Mail<")
    fragment = admin_client.get("/?view=cards", HTTP_HX_REQUEST="true")
    assert fragment.content.decode().startswith('<div id="live">')
    assert "<html" not in fragment.content.decode() and 'class="cards"' in fragment.content.decode()
    assert "HX-Request" in fragment["Vary"]


def test_dashboard_queries_do_not_grow_with_jobs(
    admin_client, loaded, django_assert_max_num_queries
):
    admin_client.get("/")  # session and user cached by nothing: count a steady request
    # 7: one is the worker banner's (the fleet's worker runs: one indexed query).
    with django_assert_max_num_queries(7):
        assert admin_client.get("/").status_code == 200
    server = Server.objects.get(name="nas")
    for number in range(40):
        BackupJob.objects.create(
            server=server, name=f"extra {number}", created_at=server.created_at
        )
    with django_assert_max_num_queries(7):
        assert admin_client.get("/?view=cards").status_code == 200


def test_job_page(admin_client, loaded):
    photos = job("nas", "Photos")
    html = admin_client.get(f"/jobs/{photos.pk}").content.decode()
    assert "Learned from the history" in html and "Confidence" in html
    assert "learned" in html  # the source of the schedule in force
    assert "<meter" in html
    assert html.count('href="/runs/') >= 15  # the history's first page (and the last run)
    older = admin_client.get(f"/jobs/{photos.pk}?page=2").content.decode()
    assert "Page 2" in older


def test_job_metrics(admin_client, loaded):
    photos = job("nas", "Photos")
    data = admin_client.get(f"/jobs/{photos.pk}/metrics?range=7d").json()
    assert [m["name"] for m in data["metrics"]] == [
        "duration",
        "uploaded",
        "storage",
        "files",
        "versions",
    ]
    (line,) = data["jobs"]
    assert len(line["x"]) == 7 and line["x"] == sorted(line["x"])
    assert line["duration"][0] == 257.0
    everything = admin_client.get(f"/jobs/{photos.pk}/metrics?range=all").json()
    assert len(everything["jobs"][0]["x"]) == 15
    nas = Server.objects.get(name="nas")
    both = admin_client.get(f"/servers/{nas.pk}/metrics?range=30d").json()
    assert [line["name"] for line in both["jobs"]] == ["Documents", "Photos"]


def test_server_page(admin_client, loaded):
    office = Server.objects.get(name="office-pc")
    html = admin_client.get(f"/servers/{office.pk}").content.decode()
    assert ">System<" in html and ">Mail<" in html
    assert "Schedule defaults for this server" in html


def test_server_first_seen_is_its_earliest_run(admin_client, loaded):
    """rafamunoz's 2023 reports arrived today: it was first seen in 2023, not today."""
    server = Server.objects.get(name="rafamunoz")
    earliest = BackupRun.objects.filter(server=server).order_by("begin_time")[0].begin_time
    assert earliest < server.created_at - timedelta(days=365)
    html = admin_client.get(f"/servers/{server.pk}").content.decode()
    first_seen = html.split("<dt>First seen</dt>")[1].split("</dd>")[0]
    assert f'datetime="{earliest.isoformat()}"' in first_seen
    assert "y ago" in first_seen


def test_run_page_shows_everything(admin_client, loaded):
    documents = job("nas", "Documents")
    html = admin_client.get(f"/runs/{documents.last_run_id}").content.decode()
    assert 'class="badge r-error"' in html
    assert 'class="log-error"' in html and "Failed to process file /srv/docs/contract.pdf" in html
    assert "Examined files" in html and "BackendStatistics" in html
    assert "Available versions" in html
    fatal = BackupRun.objects.get(status="Fatal", server__name="rafamunoz")
    html = admin_client.get(f"/runs/{fatal.pk}").content.decode()
    assert "Exception" in html and "BadArguments" in html


def test_every_page_renders_for_a_viewer(viewer_client, loaded):
    photos = job("nas", "Photos")
    for path in (
        "/",
        "/?view=cards",
        f"/servers/{photos.server_id}",
        f"/jobs/{photos.pk}",
        f"/runs/{photos.last_run_id}",
        "/settings/monitoring",
        "/settings/notifications",
        "/account/password",
    ):
        response = viewer_client.get(path)
        assert response.status_code == 200, path
        assert "Save schedule" not in response.content.decode()
    for path in ("/settings/users", "/settings/tokens", "/settings/audit"):
        assert viewer_client.get(path).status_code == 403


def test_viewers_cannot_change_anything(viewer_client, loaded):
    photos = job("nas", "Photos")
    for path, data in (
        (f"/jobs/{photos.pk}/schedule", {"interval": "1D"}),
        (f"/jobs/{photos.pk}/pause", {"pause": "1h"}),
        (f"/servers/{photos.server_id}/schedule", {"interval": "1D"}),
        (f"/servers/{photos.server_id}/details", {"alias": "x"}),
        ("/settings/monitoring", {"interval": "1D"}),
        (
            "/settings/monitoring/jobs",
            {"job": photos.pk, "change_interval": "on", "interval": "1D"},
        ),
        ("/settings/users", {"username": "x"}),
        ("/settings/tokens", {"name": "x"}),
    ):
        assert viewer_client.post(path, data).status_code == 403, path
    photos.refresh_from_db()
    assert photos.interval == "" and photos.paused_until is None


def test_forms_need_the_csrf_token(loaded, admin_user):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    photos = job("nas", "Photos")
    assert strict.post(f"/jobs/{photos.pk}/schedule", {"interval": "1D"}).status_code == 403
