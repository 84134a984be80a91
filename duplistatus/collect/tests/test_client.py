"""The REST client against fake Duplicati servers of both generations, over real sockets."""

from __future__ import annotations

import pytest

from duplistatus.collect.client import (
    CollectError,
    DuplicatiClient,
    candidate_urls,
    fetch_certificate,
)

from .fixtures import SUCCESS_MESSAGE, log_message

GENERATIONS = ["2.1", "legacy"]


def test_address_forms():
    assert candidate_urls("nas") == ["https://nas:8200", "http://nas:8200"]
    assert candidate_urls("10.0.0.5:8300") == ["https://10.0.0.5:8300", "http://10.0.0.5:8300"]
    assert candidate_urls("http://nas:8200/") == ["http://nas:8200"]
    with pytest.raises(CollectError) as caught:
        candidate_urls("ftp://nas")
    assert caught.value.code == "bad_address"


@pytest.mark.parametrize("generation", GENERATIONS)
def test_detects_generation_and_reads_everything(start_duplicati, generation):
    fake = start_duplicati(generation=generation)
    backup = fake.add_backup("2", "Photos")
    for n in range(25):
        backup.add_result(log_message(SUCCESS_MESSAGE), 1_700_000_000 + n)
    with DuplicatiClient(fake.address, fake.password) as client:
        client.connect()
        # No TLS on the port: https was tried first, then http.
        assert client.base_url == f"http://{fake.address}"
        assert client.generation == ("2.1+" if generation == "2.1" else "legacy")
        assert client.system_info()["MachineName"] == "fakehost"
        assert [b["Backup"]["Name"] for b in client.backups()] == ["Photos"]
        first = client.log_page("2", page_size=10)
        second = client.log_page("2", before=first[-1]["ID"], page_size=10)
        assert [r["ID"] for r in first] == list(range(25, 15, -1))
        assert [r["ID"] for r in second] == list(range(15, 5, -1))


@pytest.mark.parametrize("generation", GENERATIONS)
def test_wrong_password(start_duplicati, generation):
    fake = start_duplicati(generation=generation)
    with DuplicatiClient(fake.address, "not the password") as client:
        with pytest.raises(CollectError) as caught:
            client.connect()
    assert caught.value.code == "wrong_password"
    assert "not the password" not in str(caught.value)


@pytest.mark.parametrize("generation", GENERATIONS)
def test_expired_session_logs_in_again(start_duplicati, generation):
    fake = start_duplicati(generation=generation)
    fake.add_backup("1", "Docs")
    with DuplicatiClient(fake.address, fake.password) as client:
        client.connect()
        fake.expire_sessions()
        assert [b["Backup"]["ID"] for b in client.backups()] == ["1"]
    assert fake.logins == 2


def test_unreachable(closed_port):
    with DuplicatiClient(f"127.0.0.1:{closed_port}", "pw") as client:
        with pytest.raises(CollectError) as caught:
            client.connect()
    assert caught.value.code == "unreachable"


@pytest.mark.timeout(20)
def test_server_that_hangs_times_out(start_duplicati):
    fake = start_duplicati(generation="2.1")
    fake.hang.set()
    with DuplicatiClient(f"http://{fake.address}", fake.password, timeout=0.5) as client:
        with pytest.raises(CollectError) as caught:
            client.connect()
    assert caught.value.code == "timeout"


@pytest.mark.parametrize("generation", GENERATIONS)
def test_self_signed_certificate_is_refused_until_trusted(start_duplicati, self_signed, generation):
    fake = start_duplicati(generation=generation, tls=self_signed.context())
    with DuplicatiClient(fake.address, fake.password) as client:
        with pytest.raises(CollectError) as caught:
            client.connect()
    # Refused, and not retried over http: the fake got no login at all.
    assert caught.value.code == "certificate_untrusted"
    assert fake.logins == 0
    presented = fetch_certificate(f"https://{fake.address}")
    assert caught.value.fingerprint == presented.sha256

    with DuplicatiClient(fake.address, fake.password, pinned_pem=presented.pem) as client:
        client.connect()
        assert client.base_url == f"https://{fake.address}"
        assert client.system_info()["MachineName"] == "fakehost"


def test_certificate_from_a_trusted_ca(start_duplicati, self_signed, tmp_path):
    fake = start_duplicati(tls=self_signed.context())
    with DuplicatiClient(fake.address, fake.password, ca_file=self_signed.ca_file(tmp_path)) as c:
        c.connect()
        assert c.base_url.startswith("https://")


def test_changed_certificate_after_trust_is_refused_before_the_password_is_sent(
    start_duplicati, self_signed
):
    trusted = start_duplicati(tls=self_signed.context())
    pem = fetch_certificate(f"https://{trusted.address}").pem
    impostor = start_duplicati(tls=self_signed.context(other=True))
    with DuplicatiClient(impostor.address, impostor.password, pinned_pem=pem) as client:
        with pytest.raises(CollectError) as caught:
            client.connect()
    assert caught.value.code == "certificate_changed"
    assert caught.value.fingerprint == fetch_certificate(f"https://{impostor.address}").sha256
    assert impostor.logins == 0 and impostor.requests == []


@pytest.mark.timeout(20)
def test_a_server_that_trickles_is_cut_off(start_duplicati):
    fake = start_duplicati(generation="2.1")
    fake.add_backup("1", "Docs")
    fake.trickle.set()
    with DuplicatiClient(fake.address, fake.password, timeout=2, deadline=1.0) as client:
        client.connect()
        with pytest.raises(CollectError) as caught:
            client.log_page("1")
    assert caught.value.code == "timeout"
