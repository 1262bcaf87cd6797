"""The wizard against a real OpenSSH server: the host key accepted, then a first sync."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.connectors.custom_sftp import parse_host_key
from app.runtime import Runtime
from app.services import secrets
from app.store.db import Database
from tests.fakes.sshd import SshdUnavailable, SshServer, running_sshd
from tests.ui.test_wizard_driver import WAIT_MS, Driver, make_runtime, open_window, stored
from tests.ui.test_wizard_driver import wait_for_rows as wait_for_table_rows
from ui.qt import QSettings
from ui.wizard.wizard import MAPPING, PREVIEW, TEST

HEADER = "order_id,line_id,order_date,sku,quantity,unit_price\n"


def csv_file(order_prefix: str, orders: int, lines: int) -> bytes:
    rows = [
        f"{order_prefix}{order},{line},2025-03-{1 + order % 28:02d},SKU-{line},{order + line},"
        "9.50\n"
        for order in range(1, orders + 1)
        for line in range(1, lines + 1)
    ]
    return (HEADER + "".join(rows)).encode()


@pytest.fixture
def server() -> Iterator[SshServer]:
    try:
        with running_sshd() as started:
            yield started
    except SshdUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def runtime(sqlite_database: Database) -> Runtime:
    return make_runtime(sqlite_database)


def test_add_an_sftp_source_accepting_its_host_key_through_to_a_first_sync(
    qtbot, runtime: Runtime, server: SshServer, qsettings: QSettings
) -> None:
    server.put("incoming/orders-1.csv", csv_file("A", 10, 3))
    server.put("incoming/orders-2.csv", csv_file("B", 5, 2))
    server.put("incoming/readme.txt", b"not matched by *.csv")
    window = open_window(qtbot, runtime, qsettings)
    window.connectors.actions_by_name["add"].trigger()
    driver = Driver(qtbot, window.wizard)
    driver.choose("custom_sftp")
    driver.next()
    driver.fill(
        {
            "host": server.host,
            "port": str(server.port),
            "username": server.username,
            "password": server.password,
            "remote_folder": "incoming",
            "timeout": "10",
        },
        name="Warehouse drop folder",
    )

    page = driver.next()
    assert driver.wizard.currentId() == TEST
    # The server's key is shown for approval; no password went out yet.
    assert not page.host_key_box.isHidden()
    assert page.fingerprint.text() == server.fingerprint()
    assert page.key_type.text() == "ssh-ed25519"
    assert not page.isComplete(), "an unapproved key is not a passed test"
    assert not page.accept_key_button.isEnabled(), "accepting takes an explicit check first"
    assert "Accepted password" not in server.log_text()

    page.key_checked.setChecked(True)
    page.accept_key_button.click()
    qtbot.waitUntil(lambda: not page.busy, timeout=WAIT_MS)
    assert page.isComplete()
    assert "2 file(s)" in page.message.text()
    assert page.host_key_box.title() == "Server host key (pinned)"
    assert driver.wizard.draft.learnt["host_key"] == server.host_key_line()

    mapping = driver.next()
    assert driver.wizard.currentId() == MAPPING
    assert mapping.isComplete(), "the preset's mapping fits the CSV's header"
    preview = driver.next()
    assert driver.wizard.currentId() == PREVIEW
    assert (preview.model.good, preview.model.bad) == (20, 0)
    driver.next()  # schedule: manual, sync now after saving
    driver.next()
    with qtbot.waitSignal(window.connectors.sync_finished, timeout=WAIT_MS):
        connector_id = driver.finish()

    wait_for_table_rows(qtbot, window, connector_id, 10 * 3 + 5 * 2)
    saved = stored(runtime, connector_id)
    assert parse_host_key(saved.config["host_key"]).get_base64() in server.host_key_line()
    assert "password" not in saved.config
    assert secrets.read_secrets(runtime.vault, saved)["password"] == server.password
    assert saved.status.value == "healthy"
