"""The served $metadata passes the OASIS CSDL tooling (the odata-csdl npm package).

A test-only Node step: ``odata_csdl/`` pins odata-csdl and ajv; the package is
installed once per lockfile into pytest's cache, and ``check.js`` converts the
document to CSDL JSON in strict mode and validates that JSON against the CSDL
schema shipped in the same package. CI installs Debian's nodejs and npm.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from app.store.db import Database
from embedded_api.odata.entities import ENTITY_SETS, Edm
from tests.embedded_api.odata_support import World, build_world

TOOL_DIR = Path(__file__).parent / "odata_csdl"
TOOL_FILES = ("package.json", "package-lock.json", "check.js")


@pytest.fixture(scope="session")
def csdl_tool(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with check.js and its pinned packages installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.fail(
            "The CSDL check needs Node.js and npm on PATH (Debian: apt-get install nodejs npm)."
        )
    digest = hashlib.sha256(b"".join((TOOL_DIR / name).read_bytes() for name in TOOL_FILES))
    name = f"odata-csdl-{digest.hexdigest()[:12]}"
    cache = getattr(request.config, "cache", None)
    target = Path(cache.mkdir(name)) if cache is not None else tmp_path_factory.mktemp(name)
    stamp = target / ".installed"
    if not stamp.exists():
        for file_name in TOOL_FILES:
            shutil.copyfile(TOOL_DIR / file_name, target / file_name)
        env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--ignore-scripts"],
            cwd=target,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci for odata-csdl failed:\n{result.stdout}\n{result.stderr}")
        stamp.write_text("ok\n")
    return target


def run_check(tool: Path, document: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node is not None
    return subprocess.run(
        [node, "check.js", str(document)],
        cwd=tool,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def world(sqlite_database: Database) -> World:
    return build_world(sqlite_database)


def test_metadata_converts_and_validates_with_the_oasis_tooling(
    world: World, csdl_tool: Path, tmp_path: Path
) -> None:
    response = world.get("/odata/$metadata")
    assert response.status_code == 200
    document = tmp_path / "metadata.xml"
    document.write_bytes(response.data)
    result = run_check(csdl_tool, document)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    csdl = json.loads(result.stdout)
    assert csdl["$Version"] == "4.0"
    schema = csdl["AccuPredix"]
    container = schema["Container"]
    assert container["$Kind"] == "EntityContainer"
    sets = {name: value for name, value in container.items() if not name.startswith(("$", "@"))}
    assert list(sets) == list(ENTITY_SETS)
    primitive = {edm.value for edm in Edm}
    for name, entity_set in sets.items():
        type_name = entity_set["$Type"].removeprefix("AccuPredix.")
        entity_type = schema[type_name]
        assert entity_type["$Kind"] == "EntityType"
        assert entity_type["$Key"] == ["Id"]
        for member, facets in entity_type.items():
            if member.startswith("$") or not isinstance(facets, dict):
                continue
            # CSDL JSON leaves out Edm.String, the default type.
            declared = facets.get("$Type", "Edm.String")
            if facets.get("$Kind") == "NavigationProperty":
                assert declared.removeprefix("AccuPredix.") in schema, (name, member)
                assert entity_set["$NavigationPropertyBinding"][member] in sets
            else:
                assert declared in primitive, (name, member)
                assert ENTITY_SETS[name].property(member) is not None


def test_the_check_refuses_a_broken_document(csdl_tool: Path, tmp_path: Path) -> None:
    # The same tool on a document with a property missing its type: it must say no.
    broken = tmp_path / "broken.xml"
    broken.write_text(
        '<?xml version="1.0" encoding="utf-8"?>'
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">'
        '<edmx:DataServices><Schema Namespace="X" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
        '<EntityType Name="T"><Key><PropertyRef Name="Id"/></Key><Property Name="Id"/></EntityType>'
        "</Schema></edmx:DataServices></edmx:Edmx>"
    )
    result = run_check(csdl_tool, broken)
    assert result.returncode == 1
    assert "missing attribute: Type" in result.stderr
