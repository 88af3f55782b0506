"""A CycloneDX 1.6 bill of materials of an exxo binary (`exxo inspect --sbom`, `exxo build --sbom`).

Everything is read from the binary itself, so the SBOM of a copied binary says the same as at build time:
- every distribution: its `.dist-info/METADATA` (name, version, licence from `License-Expression`, else the
  licence classifiers, else `License`), purl `pkg:pypi/<name>@<version>`, and each of its files in the binary
  (its RECORD's rows the binary carries, plus the bytecode exxo compiled for them) as a nested `file` component
  with the SHA-256 of the bytes in the binary;
- the runtime: CPython and each library linked into it, from the manifest's `python.components` (recorded at
  build time from the runtime's runtime.json and exxo's pinned source table: version, SPDX licence, source URL,
  sha256 of the source tarball); a binary built before they were recorded gets them from this exxo's table;
- each native library a wheel bundles (`<dist>.libs/...`): soname and SHA-256 (from the manifest's ELF facts);
- SBOMs shipped inside wheels (PEP 770, `.dist-info/sboms/*`): linked from their distribution (an external
  reference of type `bom` to their path inside the binary, with their SHA-256).
`dependencies`: the binary -> every distribution, the runtime and the bundled libraries; CPython -> its
libraries; a distribution -> those its Requires-Dist names that the binary carries.
Deterministic: the serial number is derived from the build id, the timestamp is the binary's zip date, and
every list is sorted, so two identical builds give byte-identical SBOMs.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
import zipfile
from email.message import Message
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL
from packaging.utils import canonicalize_name

from exxo import __version__
from exxo import format as fmt
from exxo.archive import Members, read_info
from exxo.common import atomic_write

try:  # cyclonedx-python-lib >= 11.12 moved it; older releases have the same class here
    from cyclonedx.contrib.license.factories import LicenseFactory
except ImportError:  # pragma: no cover
    from cyclonedx.factory.license import LicenseFactory

# Licence classifiers that name exactly one SPDX licence (the others, "BSD License" say, do not say which).
CLASSIFIER_SPDX = {
    "MIT License": "MIT", "Apache Software License": "Apache-2.0", "ISC License (ISCL)": "ISC",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0", "Python Software Foundation License": "PSF-2.0",
    "The Unlicense (Unlicense)": "Unlicense", "zlib/libpng License": "Zlib", "MIT No Attribution License (MIT-0)":
    "MIT-0", "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0", "Universal Permissive License (UPL)": "UPL-1.0",
}
License = LicenseExpression | DisjunctiveLicense


def _sha256(data: bytes) -> HashType:
    return HashType(alg=HashAlgorithm.SHA_256, content=hashlib.sha256(data).hexdigest())


def licenses_of(meta: Message) -> list[License]:
    """The distribution's licence: License-Expression (PEP 639), else its licence classifiers, else License."""
    factory = LicenseFactory()
    expression = (meta.get("License-Expression") or "").strip()
    if expression:
        return [factory.make_from_string(expression)]
    out: list[License] = []
    for classifier in meta.get_all("Classifier") or []:
        parts = [p.strip() for p in classifier.split("::")]
        if parts[0] == "License" and len(parts) > 1 and parts[-1] not in ("OSI Approved", "Other/Proprietary License"):
            spdx = CLASSIFIER_SPDX.get(parts[-1])
            out.append(factory.make_from_string(spdx) if spdx else DisjunctiveLicense(name=parts[-1]))
    text = (meta.get("License") or "").strip()
    if not out and text and "\n" not in text and len(text) <= 100:  # a name, not the licence's whole text
        out.append(factory.make_from_string(text))
    return out


def _dist_files(zf: Members, dist_info: str, site: str, tag: str, names: set[str]) -> list[str]:
    """The binary's members that belong to the distribution: its RECORD's rows, and their bytecode."""
    import csv
    import io

    record = site + dist_info + "/RECORD"
    if record not in names:
        return sorted(n for n in names if n.startswith(site + dist_info + "/"))
    out = set()
    for row in csv.reader(io.StringIO(zf.read(record).decode("utf-8"))):
        if not row:
            continue
        member = site + row[0]
        if member in names:
            out.add(member)
        if row[0].endswith(".py"):
            parent, _, leaf = member.rpartition("/")
            pyc = f"{parent}/__pycache__/{leaf[:-3]}.{tag}.pyc"
            if pyc in names:
                out.add(pyc)
    return sorted(out)


def _distribution(zf: Members, dist_info: str, site: str, tag: str, names: set[str]) -> Component:
    meta = BytesHeaderParser().parsebytes(zf.read(site + dist_info + "/METADATA"))
    name, version = str(meta["Name"]), str(meta["Version"])
    purl = PackageURL(type="pypi", name=canonicalize_name(name), version=version)
    files = []
    sboms = []
    for member in _dist_files(zf, dist_info, site, tag, names):
        data = zf.read(member)
        files.append(Component(type=ComponentType.FILE, name=member, bom_ref=f"{purl}#{member}",
                               hashes=[_sha256(data)]))
        if member.startswith(f"{site}{dist_info}/sboms/"):
            sboms.append(ExternalReference(type=ExternalReferenceType.BOM, url=XsUri(member), hashes=[_sha256(data)],
                                           comment="an SBOM the wheel ships (PEP 770), at this path in the binary"))
    summary = meta.get("Summary")
    return Component(type=ComponentType.LIBRARY, name=name, version=version, purl=purl, bom_ref=str(purl),
                     licenses=licenses_of(meta), description=str(summary) if summary else None,
                     components=files, external_references=sboms)


def runtime_components(manifest: dict[str, Any]) -> tuple[list[dict[str, str]], str]:
    """(the runtime's components, where they come from): the manifest's record, else exxo's pinned table."""
    python = manifest["python"]
    if python.get("components"):
        return list(python["components"]), "the binary's manifest"
    from exxo.runtime import sources

    version = str(python.get("version", ""))
    pinned = sources.CPYTHON.get(version)
    out = [{"name": "cpython", "version": version, "license": "PSF-2.0",
            "sha256": pinned.sha256s[0] if pinned else "", "url": pinned.url if pinned else ""}]
    for s in sources.libraries_for(version or None):
        out.append({"name": s.name, "version": s.version, "license": s.license, "sha256": s.sha256s[0], "url": s.url})
    return out, f"exxo {__version__}'s pinned source table (the binary does not record its runtime's components)"


def _runtime(manifest: dict[str, Any]) -> tuple[Component, list[Component]]:
    components, origin = runtime_components(manifest)
    factory = LicenseFactory()
    libraries = []
    cpython = None
    for c in sorted(components, key=lambda c: c["name"]):
        refs = []
        if c.get("url"):
            refs.append(ExternalReference(type=ExternalReferenceType.SOURCE_DISTRIBUTION, url=XsUri(c["url"]),
                                          hashes=[HashType(alg=HashAlgorithm.SHA_256, content=c["sha256"])]
                                          if c.get("sha256") else None))
        props = [Property(name="exxo:source", value=origin)]
        if c.get("sha256"):
            props.append(Property(name="exxo:source-sha256", value=c["sha256"]))
        bundled = c["version"] == "bundled with CPython"  # expat, mpdecimal: CPython's own copies
        component = Component(
            type=ComponentType.APPLICATION if c["name"] == "cpython" else ComponentType.LIBRARY,
            name=c["name"], version=None if bundled else c["version"],
            bom_ref=f"runtime:{c['name']}",
            licenses=[factory.make_from_string(c["license"])] if c.get("license") else [],
            purl=PackageURL(type="generic", name=c["name"], version=None if bundled else c["version"]),
            external_references=refs,
            properties=props + ([Property(name="exxo:linked", value="bundled with CPython's source")] if bundled
                                else [Property(name="exxo:linked", value="statically, symbols hidden")]
                                if c["name"] != "cpython" else []),
            description="the exxo runtime: CPython, statically built with its libraries" if c["name"] == "cpython"
            else None)
        if c["name"] == "cpython":
            cpython = component
        else:
            libraries.append(component)
    assert cpython is not None
    return cpython, libraries


def _bundled_libraries(manifest: dict[str, Any], site: str) -> list[Component]:
    """The native libraries wheels bundle (`numpy.libs/`, `pillow.libs/`): soname and SHA-256."""
    out = []
    for name, facts in sorted(manifest.get("elf", {}).items()):
        folder = name[len(site):].split("/")[0] if name.startswith(site) else ""
        if not folder.endswith(".libs") or not facts.get("sha256"):
            continue
        soname = facts.get("soname") or name.rpartition("/")[2]
        out.append(Component(type=ComponentType.LIBRARY, name=soname, bom_ref=f"native:{name}",
                             hashes=[HashType(alg=HashAlgorithm.SHA_256, content=facts["sha256"])],
                             properties=[Property(name="exxo:path", value=name),
                                         Property(name="exxo:bundled-by", value=folder)]))
    return out


def _requires(zf: Members, metadata: str, python: dict[str, Any]) -> set[str]:
    """Canonical names of the distribution's Requires-Dist whose markers hold for the binary's Python on Linux
    (requirements of extras are left out: which extras were asked for is not recorded)."""
    from packaging.markers import default_environment
    from packaging.requirements import InvalidRequirement, Requirement

    env = {**{k: str(v) for k, v in default_environment().items()}, "python_version": str(python.get("minor", "")),
           "python_full_version": str(python.get("version", "")), "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
           "os_name": "posix", "extra": ""}
    out: set[str] = set()
    for text in BytesHeaderParser().parsebytes(zf.read(metadata)).get_all("Requires-Dist") or []:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker is None or req.marker.evaluate(env):
            out.add(canonicalize_name(req.name))
    return out


def build(binary: Path) -> Bom:
    manifest = read_info(binary)
    site = manifest["stdlib_prefix"] + "/site-packages/"
    tag = "cpython-" + str(manifest["python"].get("minor", "")).replace(".", "")
    entry = manifest["entry"]
    with zipfile.ZipFile(binary) as whole:
        date = whole.getinfo(fmt.MANIFEST_NAME).date_time
    with Members(binary, manifest) as zf:  # by name through the manifest: identical copies share one entry
        names = {n for n, v in manifest["files"].items() if not v[fmt.F_IS_DIR]}
        dist_infos = sorted({n[len(site):].split("/")[0] for n in names
                             if n.startswith(site) and n.split("/")[-2].endswith(".dist-info")
                             and n.endswith("/METADATA") and n.count("/") == site.count("/") + 1})
        dists = [_distribution(zf, d, site, tag, names) for d in dist_infos]
        requires = {d: _requires(zf, site + d + "/METADATA", manifest["python"]) for d in dist_infos}
    cpython, libraries = _runtime(manifest)
    bundled = _bundled_libraries(manifest, site)
    scripts = sorted(entry.get("scripts") or [])
    app = Component(type=ComponentType.APPLICATION, name=str(entry.get("name") or binary.name),
                    version=manifest["build_id"], bom_ref="exxo-binary",
                    hashes=[_sha256(binary.read_bytes())],  # the file as it is (after upx, if compressed)
                    description="an exxo binary: the exxo runtime with the app's distributions appended as a zip",
                    properties=[Property(name="exxo:entry", value=f"{entry['module']}:{entry.get('attr') or ''}"),
                                Property(name="exxo:format", value=str(manifest["format"])),
                                Property(name="exxo:built-by", value=f"exxo {manifest['exxo_version']}"),
                                # a cross-built binary's processor (x86-64 ones record none: their SBOM is unchanged)
                                *([Property(name="exxo:target", value=str(manifest["python"]["target"]))]
                                  if manifest["python"].get("target") else []),
                                *(Property(name="exxo:script", value=s) for s in scripts)])
    tools = ToolRepository(components=[Component(type=ComponentType.APPLICATION, name="exxo", version=__version__,
                                                 bom_ref="tool:exxo")])
    stamp = datetime.datetime(*date, tzinfo=datetime.UTC)
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"exxo:{manifest['build_id']}:{app.hashes[0].content}")
    bom = Bom(serial_number=serial,
              metadata=BomMetaData(component=app, timestamp=stamp, tools=tools),
              components=[*dists, cpython, *libraries, *bundled])
    bom.dependencies.add(Dependency(ref=app.bom_ref, dependencies=[
        Dependency(ref=c.bom_ref) for c in (*dists, cpython, *bundled)]))
    bom.dependencies.add(Dependency(ref=cpython.bom_ref, dependencies=[Dependency(ref=c.bom_ref) for c in libraries]))
    by_name = {str(c.purl.name): c for c in dists if c.purl is not None}
    for dist_info, dist in zip(dist_infos, dists, strict=True):
        # what it requires among what the binary carries (markers were evaluated when it was built)
        needed = [by_name[n] for n in sorted(requires[dist_info]) if n in by_name and by_name[n] is not dist]
        bom.dependencies.add(Dependency(ref=dist.bom_ref, dependencies=[Dependency(ref=c.bom_ref) for c in needed]))
    return bom


def render(binary: Path) -> str:
    """The SBOM of `binary` as CycloneDX 1.6 JSON text (sorted keys, indented, final newline)."""
    import json

    text = JsonV1Dot6(build(binary)).output_as_string()
    return json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def write(binary: Path, dest: Path) -> None:
    atomic_write(dest, render(binary).encode("utf-8"), 0o644)
