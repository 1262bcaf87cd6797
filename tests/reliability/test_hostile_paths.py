"""Hostile paths and file names: an SFTP folder on a real OpenSSH server, and local files.

The SFTP account's permissions are what confines the connector on the server;
on our side it reads regular files of the configured folder only (a symlink
planted in the folder is not followed), moves each read file into the archive
folder under its own name whatever that name looks like, and says in plain
words why a folder cannot be used. A local file that is not a regular file,
or a path that cannot name one, is refused with a message for the operator,
never an unexpected error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.connectors.base import SourceConfig
from app.connectors.custom_sftp import CustomSftpPreset
from app.connectors.errors import ConnectorError
from app.services import connectors as connector_service
from app.store.db import Database
from tests.fakes.sshd import SshdUnavailable, SshServer, running_sshd
from tests.reliability.stores import VAULT

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

HEADER = b"order_id,line_id,order_date,sku,quantity\n"
# Names a careless join could turn into a path elsewhere, or a shell into a command.
HOSTILE_NAMES = (
    "..\\..\\escaped.csv",
    "...csv",
    "-rf.csv",
    "a b;rm -rf x.csv",
    "%2e%2e%2fup.csv",
    "line\nbreak.csv",
    "\u00fcn\u00efc\u00f8d\u00e9.csv",
    "$(touch pwned).csv",
)


@pytest.fixture
def server() -> Iterator[SshServer]:
    try:
        with running_sshd() as started:
            yield started
    except SshdUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


def settings(server: SshServer, **overrides: Any) -> dict[str, Any]:
    values = {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "password": server.password,
        "remote_folder": "incoming",
        "host_key": server.host_key_line(),
        "timeout": 10,
        **overrides,
    }
    return CustomSftpPreset.validate(values)


def rows(order: str) -> bytes:
    return HEADER + f"{order},1,2025-03-01,SKU-1,1\n".encode()


def pulled_orders(values: dict[str, Any]) -> list[str]:
    pages = CustomSftpPreset().pull(SourceConfig(dict(values)), None)
    return sorted(record["order_id"] for page in pages for record in page.records)


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its content (None for folders and links)."""
    found: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        regular = path.is_file() and not path.is_symlink()
        found[str(path.relative_to(root))] = path.read_bytes() if regular else None
    return found


def test_symlinks_planted_in_the_folder_are_not_followed(server: SshServer) -> None:
    server.put("incoming/inside.csv", rows("INSIDE"))
    secret = server.put("private/secret.csv", rows("SECRET"))
    incoming = server.root / "incoming"
    (incoming / "link-to-file.csv").symlink_to(secret)
    (incoming / "passwd.csv").symlink_to("/etc/passwd")
    (incoming / "link-to-folder.csv").symlink_to(secret.parent)

    values = settings(server)
    probe = CustomSftpPreset().probe(SourceConfig(dict(values)))
    assert probe.details["files"] == ["inside.csv"]
    assert pulled_orders(values) == ["INSIDE"]


def test_hostile_file_names_are_read_and_archived_inside_the_archive_folder(
    server: SshServer,
) -> None:
    for number, name in enumerate(HOSTILE_NAMES):
        server.put(f"incoming/{name}", rows(f"O{number}"), mtime=1_000 + number)
    server.mkdir("archive")
    before = tree(server.base)

    # The names say nothing of their format; the setting does.
    values = settings(server, archive_folder="archive", file_format="csv")
    assert pulled_orders(values) == sorted(f"O{n}" for n in range(len(HOSTILE_NAMES)))

    after = tree(server.base)
    moved = {f"files/incoming/{name}": f"files/archive/{name}" for name in HOSTILE_NAMES}
    expected = {moved.get(path, path): content for path, content in before.items()}
    # Only the moves happened: nothing was created, changed or removed anywhere else.
    assert {k: v for k, v in after.items() if not k.endswith("sshd.log")} == {
        k: v for k, v in expected.items() if not k.endswith("sshd.log")
    }


@pytest.mark.parametrize(
    ("folder", "words"),
    [
        ("..", "Cannot list the folder ..: permission denied"),
        ("/root", "Cannot list the folder /root: permission denied"),
        ("incoming/../../../nowhere-at-all", "does not exist on the SFTP server"),
        ("incoming/" + "x" * 5000, "Cannot list the folder incoming/xxx"),
    ],
    ids=["parent", "absolute", "dot-dot", "too-long"],
)
def test_a_folder_the_account_cannot_read_is_refused_in_plain_words(
    server: SshServer, folder: str, words: str
) -> None:
    server.mkdir("incoming")
    with pytest.raises(ConnectorError) as refused:
        pulled_orders(settings(server, remote_folder=folder))
    assert words in str(refused.value)


def test_an_archive_folder_that_is_a_file_stops_the_pull_before_reading(
    server: SshServer,
) -> None:
    server.put("incoming/a.csv", rows("A"))
    server.put("archive.csv", b"not a folder")
    with pytest.raises(ConnectorError, match=r"archive folder archive\.csv .* is not a folder"):
        pulled_orders(settings(server, archive_folder="archive.csv"))
    assert (server.root / "incoming/a.csv").exists(), "nothing was moved"


# --- local files --------------------------------------------------------------------------


def bad_paths(tmp_path: Path) -> dict[str, str]:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    return {
        "device": "/dev/zero",
        "fifo": str(fifo),
        "folder": str(tmp_path),
        "missing": str(tmp_path / "missing.csv"),
        "too-long": str(tmp_path / ("x" * 300 + ".csv")),
        "nul-byte": str(tmp_path / "orders\x00.csv"),
        "unknown-user": "~no-such-user-here/orders.csv",
    }


@pytest.mark.parametrize(
    "case", ["device", "fifo", "folder", "missing", "too-long", "nul-byte", "unknown-user"]
)
def test_a_local_path_that_names_no_readable_file_is_refused_clearly(
    sqlite_database: Database, tmp_path: Path, case: str
) -> None:
    """Test connection and preview refuse with the operator's message, and do not hang."""
    path = bad_paths(tmp_path)[case]
    for use in (connector_service.probe_connection, connector_service.preview):
        with pytest.raises(ConnectorError) as refused:
            use(sqlite_database, VAULT, preset="custom_file", values={"path": path})
        message = str(refused.value)
        assert message, case
        assert "Traceback" not in message
