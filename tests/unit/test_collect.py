"""exxo.collect's requirement closure: pure data in, names out (the members of real installs:
tests/integration/test_collect_venv.py)."""

from __future__ import annotations

from pathlib import Path

from exxo import collect

# ---- closure: pure data in, names out -----------------------------------------------------------------


def inv(dists: dict[str, tuple[str, list[str]]]) -> collect.Inventory:
    env = {"python_version": "3.13", "python_full_version": "3.13.15", "sys_platform": "linux", "os_name": "posix",
           "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "implementation_version": "3.13.15",
           "platform_release": "", "platform_version": ""}
    return collect.Inventory(Path("/site"), {n: {"name": n, "version": v, "requires": r}
                                            for n, (v, r) in dists.items()}, env, "cpython-313", "3.13.15", [])


def test_closure_markers_and_extras() -> None:
    i = inv({
        "app": ("1", ["a[x]", "b; python_version < '3'", "c; sys_platform == 'linux'"]),
        "a": ("1", ["d; extra == 'x'", "e; extra == 'y'", "f"]),
        "b": ("1", []), "c": ("2", []), "d": ("1", []), "e": ("1", []), "f": ("1", []),
    })
    order, problems = collect.closure(i, "App")
    assert set(order) == {"app", "a", "c", "d", "f"} and order[0] == "app" and problems == []


def test_closure_extras_added_later_are_walked() -> None:
    i = inv({"app": ("1", ["a", "b"]), "b": ("1", ["a[x]"]), "a": ("1", ["d; extra == 'x'"]), "d": ("1", [])})
    assert set(collect.closure(i, "app")[0]) == {"app", "a", "b", "d"}


def test_closure_reports_missing_and_unmet() -> None:
    i = inv({"app": ("1", ["a>=2", "Missing_Dist[z]>1"]), "a": ("1.5", [])})
    order, problems = collect.closure(i, "app")
    assert order == ["app", "a"]
    assert problems == ["Missing_Dist[z]>1", "a>=2 (installed: 1.5)"]


def test_closure_names_are_normalised() -> None:
    i = inv({"my-app": ("1", ["Zope.Interface"]), "zope-interface": ("6", [])})
    assert collect.closure(i, "My_App")[0] == ["my-app", "zope-interface"]


def test_prefix_relative_paths_of_data_outside_site_packages() -> None:
    site = Path("/v/lib/python3.13/site-packages")
    assert collect.prefix_relative(site, "../../../share/x/y.txt", "3.13.1") == "share/x/y.txt"
    assert collect.prefix_relative(site, "../../../etc/jupyter/a.json", "3.13.1") == "etc/jupyter/a.json"
    assert collect.prefix_relative(site, "../../../bin/tool", "3.13.1") is None  # console scripts
    assert collect.prefix_relative(site, "../../../../etc/passwd", "3.13.1") is None  # outside the prefix
    assert collect.prefix_relative(Path("/tmp/target"), "../share/x", "3.13.1") is None  # not a prefix layout
    assert collect.site_packages_prefix("3.13.1") == "lib/python3.13/site-packages/"
