"""The SBOM of the Flask example (`exxo build --sbom`, `exxo inspect --sbom`): CycloneDX 1.6, validated by
cyclonedx-python-lib's JSON-schema validator; two identical builds give byte-identical SBOMs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import alone, exxo

pytestmark = [pytest.mark.runtime, pytest.mark.network, pytest.mark.slow]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flask-gevent"


@pytest.fixture(scope="module")
def builds(runtime: object, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("sbom")
    env = tmp / "env"
    assert exxo("venv", env).returncode == 0
    out = []
    for n in ("one", "two"):
        proc = exxo("build", "-s", EXAMPLE, "--venv", env, "-o", f"{tmp / n}/", "--sbom")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out.append(tmp / n / "flask-gevent-demo")
    return out


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"].lower(): c for c in doc["components"]}


def test_valid_and_complete(builds: list[Path]) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = Path(f"{builds[0]}.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    doc = json.loads(text)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    components = by_name(doc)
    for name in ("flask", "gevent", "greenlet", "gunicorn", "werkzeug", "flask-gevent-demo"):
        c = components[name]
        assert c["version"] and c["purl"] == f"pkg:pypi/{name}@{c['version']}", c
        assert c["components"] and all(f["hashes"][0]["alg"] == "SHA-256" for f in c["components"])
    for name in ("flask", "gevent", "greenlet", "gunicorn"):
        assert components[name]["licenses"], name  # License-Expression or a classifier
    cpython = components["cpython"]
    assert cpython["version"].startswith("3.") and cpython["licenses"] == [{"license": {"id": "PSF-2.0"}}]
    openssl = components["openssl"]
    assert openssl["version"].startswith("3.") and openssl["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    [source] = openssl["externalReferences"]
    assert source["type"] == "source-distribution" and source["url"].endswith(".tar.gz")
    assert len(source["hashes"][0]["content"]) == 64
    for lib in ("sqlite", "libffi", "xz", "bzip2", "zlib", "ncurses", "libedit", "util-linux"):
        assert components[lib]["version"] and components[lib]["licenses"], lib
    # greenlet/gevent ship C extensions; the SBOM hashes them as files of their distribution
    assert any(f["name"].endswith(".so") for f in components["greenlet"]["components"])
    assert doc["metadata"]["component"]["name"] == "flask-gevent-demo"
    graph = {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}
    flask = components["flask"]["bom-ref"]
    assert components["werkzeug"]["bom-ref"] in graph[flask] and components["jinja2"]["bom-ref"] in graph[flask]
    assert graph["runtime:cpython"] >= {"runtime:openssl", "runtime:sqlite"}
    assert flask in graph["exxo-binary"] and "runtime:cpython" in graph["exxo-binary"]


def test_deterministic(builds: list[Path], tmp_path: Path) -> None:
    one, two = (Path(f"{b}.cdx.json").read_bytes() for b in builds)
    assert builds[0].read_bytes() == builds[1].read_bytes()
    assert one == two
    # the binary alone, somewhere else, says the same
    copy = alone(builds[0], tmp_path)
    proc = exxo("inspect", "--sbom", copy)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.encode() == one


def test_not_a_binary(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"\x7fELF" + b"\0" * 200)
    proc = exxo("inspect", "--sbom", tmp_path / "x")
    assert proc.returncode == 4 and "not an exxo binary" in proc.stderr and "Traceback" not in proc.stderr
