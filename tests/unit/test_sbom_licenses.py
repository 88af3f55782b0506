"""The SBOM's pieces that need no binary: licences from metadata, bundled libraries, the runtime's components."""

from __future__ import annotations

from email.message import Message

from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression

from exxo import sbom


def meta(**fields: str | list[str]) -> Message:
    m = Message()
    for key, value in fields.items():
        for v in value if isinstance(value, list) else [value]:
            m[key.replace("_", "-")] = v
    return m


def test_license_expression_first() -> None:
    [lic] = sbom.licenses_of(meta(License_Expression="MIT AND PSF-2.0", License="whatever",
                                  Classifier="License :: OSI Approved :: BSD License"))
    assert isinstance(lic, LicenseExpression) and lic.value == "MIT AND PSF-2.0"


def test_classifiers_then_license_field() -> None:
    lics = sbom.licenses_of(meta(Classifier=["License :: OSI Approved :: MIT License",
                                             "License :: OSI Approved :: BSD License",
                                             "Programming Language :: Python"]))
    assert [(getattr(x, "id", None), getattr(x, "name", None)) for x in lics] == [("MIT", None),
                                                                                  (None, "BSD License")]
    [lic] = sbom.licenses_of(meta(License="Apache-2.0"))
    assert isinstance(lic, DisjunctiveLicense) and lic.id == "Apache-2.0"
    assert sbom.licenses_of(meta(License="line one\nthe whole licence text...")) == []  # not a name


def test_bundled_libraries_only_from_dot_libs() -> None:
    site = "lib/python3.13/site-packages/"
    manifest = {"elf": {
        site + "numpy.libs/libscipy_openblas64_-ff651d7f.so": {"soname": "libscipy_openblas64_-ff651d7f.so",
                                                               "sha256": "ab" * 32},
        site + "numpy/_core/_multiarray_umath.cpython-313-x86_64-linux-gnu.so": {"soname": None, "sha256": "cd" * 32},
    }}
    [lib] = sbom._bundled_libraries(manifest, site)
    assert lib.name == "libscipy_openblas64_-ff651d7f.so" and next(iter(lib.hashes)).content == "ab" * 32
    assert {p.name: p.value for p in lib.properties}["exxo:bundled-by"] == "numpy.libs"


def test_runtime_components_fall_back_to_the_pinned_table() -> None:
    recorded = [{"name": "cpython", "version": "3.13.15", "license": "PSF-2.0", "sha256": "", "url": ""}]
    assert sbom.runtime_components({"python": {"version": "3.13.15", "components": recorded}})[0] == recorded
    components, origin = sbom.runtime_components({"python": {"version": "3.13.15"}})
    names = {c["name"]: c for c in components}
    assert "pinned source table" in origin and names["cpython"]["url"].endswith("Python-3.13.15.tar.xz")
    assert names["openssl"]["license"] == "Apache-2.0" and len(names["openssl"]["sha256"]) == 64
    assert "zstd" in names  # every version links it (the launcher's decoder)
