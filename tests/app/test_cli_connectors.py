"""``accupredix connector``: the lifecycle from the command line, secrets never echoed."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import func, select

from app.cli.main import cli
from app.config import load_config
from app.redaction import MASK
from app.store.db import Database
from app.store.models import DemandLine
from tests.app.sync.memory_preset import MAPPING, orders
from tests.conftest import TEST_KEY

SECRET = "tok-very-secret-4411"


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(
        cli,
        list(args),
        env={"ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY": TEST_KEY},
        input=input,
        catch_exceptions=False,
    )


def add_memory(tmp_path, count: int = 5) -> int:
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(MAPPING))
    result = run(
        "connector",
        "add",
        "--preset",
        "test_memory",
        "--name",
        "Memory",
        "--set",
        f"records={json.dumps(orders(count))}",
        "--set",
        f"token={SECRET}",
        "--set",
        "page_size=2",
        "--mapping",
        str(mapping),
    )
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    return int(result.output.split()[2])


def test_presets_lists_fields(tmp_path) -> None:
    result = run("connector", "presets", "--json")
    assert result.exit_code == 0
    presets = {p["id"]: p for p in json.loads(result.output)}
    assert {"custom_rest", "custom_sftp", "custom_file"} <= set(presets)
    assert presets["custom_rest"]["category"] == "Custom"
    fields = {f["name"]: f for f in presets["test_memory"]["fields"]}
    assert fields["token"]["kind"] == "secret"
    assert fields["records"]["required"] is True
    text = run("connector", "presets").output
    assert "custom_sftp" in text


def test_add_list_sync_preview_delete(tmp_path) -> None:
    connector_id = add_memory(tmp_path)

    listed = run("connector", "list")
    assert listed.exit_code == 0
    assert f"token = {MASK}" in listed.output
    assert SECRET not in listed.output
    as_json = json.loads(run("connector", "list", "--json").output)
    assert as_json[0]["config"]["token"] == MASK

    tested = run("connector", "test", str(connector_id))
    assert tested.exit_code == 0, tested.output
    assert "account: memory" in tested.output

    preview = run("connector", "preview", str(connector_id), "--limit", "3", "--json")
    assert preview.exit_code == 0, preview.output
    body = json.loads(preview.output)
    assert len(body["rows"]) == 3
    assert body["rows"][0]["order_id"] == "o0"
    assert body["rows"][0]["quantity"] == "1"

    synced = run("connector", "sync", str(connector_id))
    assert synced.exit_code == 0, synced.output
    assert "complete: 10 inserted, 0 updated, 0 rejected in 3 pages" in synced.output
    database = Database(load_config().database_url)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(DemandLine)) == 10

    refused = run("connector", "delete", str(connector_id), input="n\n")
    assert refused.exit_code == 1
    deleted = run("connector", "delete", str(connector_id), "--yes")
    assert deleted.exit_code == 0
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(DemandLine)) == 0
    database.dispose()


def test_unsaved_configuration_is_tested_without_saving() -> None:
    result = run(
        "connector",
        "test",
        "--preset",
        "test_memory",
        "--set",
        f"records={json.dumps(orders(2))}",
    )
    assert result.exit_code == 0, result.output
    assert "records: 2" in result.output
    assert "no connectors" in run("connector", "list").output


def test_bad_input_is_explained() -> None:
    missing = run("connector", "add", "--preset", "test_memory", "--name", "x")
    assert missing.exit_code == 1
    assert "Records is required" in missing.output
    unknown = run("connector", "add", "--preset", "nope", "--name", "x")
    assert unknown.exit_code == 4
    assert "Unknown connector preset 'nope'" in unknown.output
    typo = run("connector", "add", "--preset", "test_memory", "--name", "x", "--set", "recrods=[]")
    assert "recrods is not a setting" in typo.output
    malformed = run("connector", "add", "--preset", "test_memory", "--name", "x", "--set", "oops")
    assert malformed.exit_code == 2
    assert "expected KEY=VALUE" in malformed.output
    assert run("connector", "sync", "99").exit_code == 4
    neither = run("connector", "test")
    assert neither.exit_code == 2
