"""The SFTP folder preset against a real OpenSSH server on 127.0.0.1."""

from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select

from app.connectors.base import Page, SourceConfig
from app.connectors.custom_sftp import CustomSftpPreset, fingerprint, parse_host_key
from app.connectors.errors import (
    AuthError,
    Cancelled,
    ConfigurationError,
    ConnectorError,
    HostKeyMismatch,
    RetryableError,
    SourceDataError,
)
from app.connectors.registry import get_preset
from app.services import connectors as service
from app.store.db import Database
from app.store.models import DemandLine, SyncStatus
from app.vault import Vault
from tests.fakes.sshd import SshdUnavailable, SshServer, generate_key, running_sshd

HEADER = b"order_id,line_id,sku,quantity\n"
VAULT = Vault(bytes(range(32)))


@pytest.fixture
def server() -> Iterator[SshServer]:
    try:
        with running_sshd() as started:
            yield started
    except SshdUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


def values_for(server: SshServer, *, pin: bool = True, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "password": server.password,
        "remote_folder": "incoming",
        "timeout": 10,
    }
    if pin:
        values["host_key"] = server.host_key_line()
    values.update(overrides)
    return CustomSftpPreset.validate(values)


def preset(page_size: int = 5000) -> CustomSftpPreset:
    instance = CustomSftpPreset()
    instance.page_size = page_size
    return instance


def pull(values: dict[str, Any], cursor: dict | None = None, page_size: int = 5000) -> list[Page]:
    return list(preset(page_size).pull(SourceConfig(dict(values)), cursor))


def records(pages: list[Page]) -> list[dict[str, Any]]:
    return [record for page in pages for record in page.records]


def csv_rows(order: str, count: int) -> bytes:
    lines = [f"{order},{n},SKU-{n},{n}\n" for n in range(1, count + 1)]
    return HEADER + "".join(lines).encode()


def tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
    }


# --- the preset as declared ---------------------------------------------------------------


def test_registered_with_its_fields() -> None:
    assert get_preset("custom_sftp") is CustomSftpPreset
    assert CustomSftpPreset.display_name == "SFTP folder"
    assert CustomSftpPreset.secret_fields() == {"password", "private_key", "passphrase"}
    managed = [spec.name for spec in CustomSftpPreset.fields if spec.managed]
    assert managed == ["host_key"]


def test_settings_are_validated() -> None:
    with pytest.raises(ConfigurationError) as caught:
        CustomSftpPreset.validate({"host": "h", "username": "u", "password": "p", "port": 70000})
    assert caught.value.fields == {"port": "must be a whole number from 1 to 65535"}
    with pytest.raises(ConfigurationError) as caught:
        CustomSftpPreset.validate({"host": "h", "username": "u", "auth": "private_key"})
    assert caught.value.fields == {"private_key": "is required"}
    with pytest.raises(ConfigurationError) as caught:
        CustomSftpPreset.validate(
            {"host": "h", "username": "u", "password": "p", "host_key": "ssh-ed25519 !!"}
        )
    assert "host_key" in caught.value.fields


# --- host key pinning -------------------------------------------------------------------


def test_unpinned_probe_shows_the_fingerprint_and_sends_no_credentials(
    server: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    values = values_for(server, pin=False, password="not-the-password")
    result = preset().probe(SourceConfig(values))
    details = result.details
    assert details["host_key_fingerprint"] == server.fingerprint()  # as ssh-keygen -lf says
    assert details["host_key_type"] == "ssh-ed25519"
    assert details["host_key"] == server.host_key_line()
    assert details["host_key_pinned"] is False
    assert server.fingerprint() in result.message
    assert "accept" in result.message
    # No login was tried with the (wrong) password, and nothing was written.
    assert "Failed password" not in server.log_text()
    assert list(home.iterdir()) == []


def test_pinned_probe_logs_in_lists_files_and_writes_nothing(
    server: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    server.put("incoming/b.csv", csv_rows("B", 1), mtime=2_000)
    server.put("incoming/a.csv", csv_rows("A", 1), mtime=1_000)
    server.put("incoming/readme.md", b"not data")
    server.mkdir("archive")
    before = tree(server.root)
    values = values_for(server, archive_folder="archive")
    result = preset().probe(SourceConfig(values))
    assert result.details["matching_files"] == 2
    assert result.details["files"] == ["a.csv", "b.csv"]
    assert result.details["host_key_pinned"] is True
    assert result.details["host_key_fingerprint"] == server.fingerprint()
    assert result.account == f"{server.username}@{server.host}:{server.port}"
    assert "Accepted password" in server.log_text()
    assert tree(server.root) == before
    assert list(home.iterdir()) == []


def test_a_changed_host_key_is_refused(server: SshServer) -> None:
    server.put("incoming/a.csv", csv_rows("A", 1))
    values = values_for(server)
    old = server.fingerprint()
    server.rotate_host_key()
    new = server.fingerprint()
    assert new != old
    for operation in (
        lambda: pull(values),
        lambda: preset().probe(SourceConfig(dict(values))),
    ):
        with pytest.raises(HostKeyMismatch) as caught:
            operation()
        message = str(caught.value)
        assert f"ssh-ed25519 {new} instead of ssh-ed25519 {old}" in message
        assert "intercepting" in message
    # The credentials never went to the server with the unknown key.
    after_rotation = server.log_text().rsplit("--- start 2 ---", 1)[1]
    assert "Accepted password" not in after_rotation


def test_a_key_of_another_type_is_refused_too(server: SshServer) -> None:
    values = values_for(server)
    server.rotate_host_key("ecdsa")
    with pytest.raises(HostKeyMismatch, match="ecdsa-sha2-nistp256 SHA256:"):
        pull(values)


def test_the_pinned_key_type_is_asked_for_when_the_server_has_several() -> None:
    with running_sshd(("ed25519", "rsa")) as server:
        server.put("incoming/a.csv", csv_rows("A", 2))
        unpinned = preset().probe(SourceConfig(values_for(server, pin=False)))
        assert unpinned.details["host_key_type"] == "ssh-ed25519"
        values = values_for(server, host_key=server.host_key_line("rsa"))
        assert len(records(pull(values))) == 2
        result = preset().probe(SourceConfig(dict(values)))
        assert result.details["host_key_fingerprint"] == server.fingerprint("rsa")


def test_pull_without_a_pinned_key_is_refused(server: SshServer) -> None:
    with pytest.raises(ConfigurationError) as caught:
        pull(values_for(server, pin=False))
    assert "No host key is pinned" in str(caught.value)
    assert "accept the server's fingerprint" in str(caught.value)
    assert caught.value.fields == {"host_key": "is not pinned yet"}


def test_fingerprint_helpers_agree_with_ssh_keygen(server: SshServer) -> None:
    key = parse_host_key(server.host_key_line())
    assert fingerprint(key) == server.fingerprint()
    known_hosts_line = f"[{server.host}]:{server.port} {server.host_key_line()}"
    assert fingerprint(parse_host_key(known_hosts_line)) == server.fingerprint()


# --- logging in -------------------------------------------------------------------------


def test_pull_with_password(server: SshServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.put("incoming/a.csv", csv_rows("A", 3), mtime=1_000)
    server.put("incoming/b.csv", csv_rows("B", 2), mtime=2_000)
    pages = pull(values_for(server))
    assert [(row["order_id"], row["line_id"]) for row in records(pages)] == [
        ("A", "1"),
        ("A", "2"),
        ("A", "3"),
        ("B", "1"),
        ("B", "2"),
    ]
    assert records(pages)[0] == {"order_id": "A", "line_id": "1", "sku": "SKU-1", "quantity": "1"}
    assert server.password not in caplog.text


def test_wrong_password_is_an_auth_error(
    server: SshServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-password-123"
    with pytest.raises(AuthError) as caught:
        pull(values_for(server, password=wrong))
    assert str(caught.value) == f"SFTP server refused the password for user {server.username}."
    assert wrong not in caplog.text


@pytest.mark.parametrize("key_format", ["openssh", "pem"])
def test_pull_with_an_encrypted_private_key(
    server: SshServer, tmp_path: Path, key_format: str
) -> None:
    server.put("incoming/a.csv", csv_rows("A", 2))
    key_path = tmp_path / "client_key"
    passphrase = "correct horse battery"
    if key_format == "openssh":
        public = generate_key(key_path, "ed25519", passphrase)
    else:
        public = generate_key(key_path, "rsa", passphrase)
        subprocess.run(
            [
                *("ssh-keygen", "-q", "-p", "-m", "PEM"),
                *("-P", passphrase, "-N", passphrase, "-f", str(key_path)),
            ],
            check=True,
            capture_output=True,
        )
        assert "BEGIN RSA PRIVATE KEY" in key_path.read_text()
    server.authorize(public)
    values = values_for(
        server,
        auth="private_key",
        private_key=key_path.read_text(),
        passphrase=passphrase,
    )
    assert "password" not in values
    assert len(records(pull(values))) == 2
    assert "Accepted publickey" in server.log_text()

    with pytest.raises(ConfigurationError, match="passphrase is wrong") as caught:
        pull({**values, "passphrase": "not it"})
    assert caught.value.fields == {"private_key": "cannot be read"}
    without = {k: v for k, v in values.items() if k != "passphrase"}
    with pytest.raises(ConfigurationError, match="enter its passphrase") as caught:
        pull(without)
    assert caught.value.fields == {"passphrase": "is needed for this key"}


def test_a_key_the_server_does_not_know_is_refused(server: SshServer, tmp_path: Path) -> None:
    generate_key(tmp_path / "stranger")
    values = values_for(server, auth="private_key", private_key=(tmp_path / "stranger").read_text())
    with pytest.raises(AuthError) as caught:
        pull(values)
    assert str(caught.value) == f"SFTP server refused the private key for user {server.username}."


# --- unreachable servers ------------------------------------------------------------------


def test_a_refused_port_is_retryable() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    values = CustomSftpPreset.validate(
        {"host": "127.0.0.1", "port": port, "username": "u", "password": "p"}
    )
    with pytest.raises(RetryableError, match=f"127.0.0.1:{port} refused the connection"):
        preset().probe(SourceConfig(values))


def test_a_server_that_never_answers_times_out() -> None:
    # The kernel completes the TCP handshake; nobody ever sends an SSH banner.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        values = CustomSftpPreset.validate(
            {"host": "127.0.0.1", "port": port, "username": "u", "password": "p", "timeout": 1}
        )
        with pytest.raises(RetryableError, match="handshake"):
            preset().probe(SourceConfig(values))


def test_a_missing_folder_is_named(server: SshServer) -> None:
    with pytest.raises(ConnectorError) as caught:
        pull(values_for(server, remote_folder="nowhere"))
    assert str(caught.value) == (
        "Cannot list the folder nowhere: it does not exist on the SFTP server."
    )


# --- which files, and how far -------------------------------------------------------------


def test_only_regular_files_matching_the_patterns_are_read(server: SshServer) -> None:
    server.put("incoming/a.csv", csv_rows("A", 1), mtime=1)
    server.put("incoming/B.CSV", csv_rows("B", 1), mtime=2)
    server.put("incoming/c.txt", csv_rows("C", 1), mtime=3)
    server.put("incoming/notes.md", b"# not data")
    book = openpyxl.Workbook()
    book.active.append(["order_id", "line_id", "sku", "quantity"])
    book.active.append(["D", 1, "SKU-1", 4.5])
    buffer = io.BytesIO()
    book.save(buffer)
    server.put("incoming/d.xlsx", buffer.getvalue(), mtime=4)
    server.mkdir("incoming/folder.csv")
    values = values_for(server, file_glob="*.csv, *.xlsx")
    rows = records(pull(values))
    assert [row["order_id"] for row in rows] == ["A", "B", "D"]
    assert rows[-1] == {"order_id": "D", "line_id": 1, "sku": "SKU-1", "quantity": 4.5}


def test_resync_reads_only_new_and_changed_files(server: SshServer) -> None:
    server.put("incoming/a.csv", csv_rows("A", 2), mtime=1_000)
    server.put("incoming/b.csv", csv_rows("B", 2), mtime=2_000)
    values = values_for(server)
    first = pull(values)
    cursor = first[-1].cursor
    assert len(records(first)) == 4
    assert set(cursor["files"]) == {"incoming/a.csv", "incoming/b.csv"}

    assert pull(values, cursor) == []  # nothing changed, nothing yielded

    server.put("incoming/b.csv", csv_rows("B", 3), mtime=3_000)
    server.put("incoming/c.csv", csv_rows("C", 1), mtime=4_000)
    second = pull(values, cursor)
    assert [(r["order_id"], r["line_id"]) for r in records(second)] == [
        ("B", "1"),
        ("B", "2"),
        ("B", "3"),
        ("C", "1"),
    ]
    cursor = second[-1].cursor
    assert cursor["files"]["incoming/b.csv"]["rows"] == 3
    assert pull(values, cursor) == []


def test_a_touched_file_with_the_same_content_is_not_read_again(server: SshServer) -> None:
    path = server.put("incoming/a.csv", csv_rows("A", 2), mtime=1_000)
    values = values_for(server)
    cursor = pull(values)[-1].cursor
    os.utime(path, (5_000, 5_000))
    pages = pull(values, cursor)
    assert [page.records for page in pages] == [[]]
    assert pages[0].cursor["files"]["incoming/a.csv"]["mtime"] == 5_000
    assert pull(values, pages[0].cursor) == []


def test_a_pull_resumes_from_any_mid_file_cursor(server: SshServer) -> None:
    server.put("incoming/a.csv", csv_rows("A", 5), mtime=1_000)
    server.put("incoming/b.csv", csv_rows("B", 3), mtime=2_000)
    values = values_for(server)
    pages = pull(values, page_size=2)
    everything = records(pages)
    assert len(everything) == 8
    assert [len(page.records) for page in pages] == [2, 2, 1, 2, 1]
    assert pages[0].cursor["current"] == {
        "path": "incoming/a.csv",
        "size": len(csv_rows("A", 5)),
        "mtime": 1_000,
        "rows": 2,
    }
    for done, page in enumerate(pages[:-1]):
        delivered = sum(len(p.records) for p in pages[: done + 1])
        resumed = pull(values, page.cursor, page_size=2)
        assert records(resumed) == everything[delivered:]


def test_a_changed_file_restarts_instead_of_resuming(server: SshServer) -> None:
    server.put("incoming/a.csv", csv_rows("A", 4), mtime=1_000)
    values = values_for(server)
    mid = pull(values, page_size=2)[0].cursor
    server.put("incoming/a.csv", csv_rows("A", 5), mtime=2_000)
    assert len(records(pull(values, mid, page_size=2))) == 5


def test_bad_rows_stop_the_pull_after_the_rows_before_them(server: SshServer) -> None:
    server.put("incoming/a.csv", csv_rows("A", 5) + b"A,6,SKU-6\n")
    values = values_for(server)
    generator = preset(page_size=2).pull(SourceConfig(dict(values)), None)
    delivered = [next(generator) for _ in range(3)]
    assert [len(page.records) for page in delivered] == [2, 2, 1]
    assert delivered[-1].cursor["current"]["rows"] == 5
    with pytest.raises(SourceDataError) as caught:
        next(generator)
    assert str(caught.value) == "a.csv, line 7: 3 values, but the header has 4 columns."
    # Resuming from the last page does not deliver anything twice.
    with pytest.raises(SourceDataError, match="line 7"):
        pull(values, delivered[-1].cursor, page_size=2)


def test_cancelling_stops_between_pages(server: SshServer) -> None:
    server.put("incoming/a.csv", csv_rows("A", 6))
    config = SourceConfig(dict(values_for(server)))
    generator = preset(page_size=2).pull(config, None)
    next(generator)
    config.cancel.set()
    with pytest.raises(Cancelled):
        next(generator)


# --- archiving ----------------------------------------------------------------------------


def test_files_move_to_the_archive_after_their_last_page(server: SshServer) -> None:
    server.put("incoming/a.csv", csv_rows("A", 3), mtime=1_000)
    server.put("incoming/b.csv", csv_rows("B", 1), mtime=2_000)
    server.put("archive/a.csv", b"an older a.csv, kept")
    values = values_for(server, archive_folder="archive")
    generator = preset(page_size=2).pull(SourceConfig(dict(values)), None)
    incoming = server.root / "incoming"

    first = next(generator)
    assert len(first.records) == 2
    last_of_a = next(generator)
    assert last_of_a.cursor["files"]["incoming/a.csv"]["rows"] == 3
    # The engine commits this page before asking for more: a.csv is still in place.
    assert (incoming / "a.csv").exists()
    only_of_b = next(generator)
    assert not (incoming / "a.csv").exists()
    assert (server.root / "archive/a-2.csv").read_bytes() == csv_rows("A", 3)
    assert (server.root / "archive/a.csv").read_bytes() == b"an older a.csv, kept"
    assert only_of_b.cursor["files"]["incoming/a.csv"]["archived_to"] == "archive/a-2.csv"
    final = next(generator)
    assert final.records == []
    assert final.cursor["files"]["incoming/b.csv"]["archived_to"] == "archive/b.csv"
    assert list(generator) == []
    assert sorted(path.name for path in incoming.iterdir()) == []

    assert pull(values, final.cursor) == []


def test_a_move_interrupted_after_the_last_page_happens_on_the_next_pull(
    server: SshServer,
) -> None:
    server.put("incoming/a.csv", csv_rows("A", 2))
    server.mkdir("archive")
    values = values_for(server, archive_folder="archive")
    generator = preset().pull(SourceConfig(dict(values)), None)
    last = next(generator)
    generator.close()  # the process stopped after committing the page
    assert (server.root / "incoming/a.csv").exists()

    pages = pull(values, last.cursor)
    assert [page.records for page in pages] == [[]]
    assert pages[0].cursor["files"]["incoming/a.csv"]["archived_to"] == "archive/a.csv"
    assert (server.root / "archive/a.csv").exists()


def test_a_missing_archive_folder_stops_before_reading(server: SshServer) -> None:
    server.put("incoming/a.csv", csv_rows("A", 2))
    with pytest.raises(ConnectorError, match="archive folder done: it does not exist"):
        pull(values_for(server, archive_folder="done"))


def test_preview_reads_without_moving_anything(server: SshServer) -> None:
    server.put("incoming/a.csv", csv_rows("A", 2), mtime=1)
    server.put("incoming/b.csv", csv_rows("B", 5), mtime=2)
    server.mkdir("archive")
    before = tree(server.root)
    sample = preset().sample(SourceConfig(values_for(server, archive_folder="archive")), 4)
    assert [(r["order_id"], r["line_id"]) for r in sample] == [
        ("A", "1"),
        ("A", "2"),
        ("B", "1"),
        ("B", "2"),
    ]
    assert tree(server.root) == before


# --- through the sync engine --------------------------------------------------------------


def test_syncs_archive_and_never_duplicate_lines(
    server: SshServer, sqlite_database: Database
) -> None:
    def orders(quantity: int) -> bytes:
        rows = "".join(f"S-{n},1,2024-03-0{n},SKU-{n},{quantity}\n" for n in range(1, 4))
        return ("order_id,line_id,order_date,sku,quantity\n" + rows).encode()

    server.put("incoming/orders.csv", orders(1), mtime=1_000)
    server.mkdir("archive")
    values = values_for(server, archive_folder="archive")
    created = service.add_connector(
        sqlite_database, VAULT, preset="custom_sftp", name="Drop folder", values=values
    )
    assert created["config"]["host_key"] == server.host_key_line()
    first = service.sync_now(sqlite_database, VAULT, created["id"])
    assert (first.status, first.inserted, first.error) == (SyncStatus.COMPLETE, 3, None)
    assert (server.root / "archive/orders.csv").exists()

    # A corrected export arrives under the same name.
    server.put("incoming/orders.csv", orders(4), mtime=2_000)
    second = service.sync_now(sqlite_database, VAULT, created["id"])
    assert (second.status, second.inserted, second.updated) == (SyncStatus.COMPLETE, 0, 3)
    assert (server.root / "archive/orders-2.csv").read_bytes() == orders(4)
    with sqlite_database.session() as session:
        quantities = [float(line.quantity) for line in session.scalars(select(DemandLine))]
    assert quantities == [4.0, 4.0, 4.0]
