"""site-packages inside the binary as `site` treats a venv's: .pth files processed (path lines and import lines),
in app mode and in a re-entry child; the builtins site adds, equal to the runtime's own; and `site` (which
imports os) not imported at all when there is no .pth file, so a small app's start does not pay for it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from exxo.archive import Member
from tests.boot_harness import Builder

APP = r'''
import json, subprocess, sys


def main():
    import extra_mod
    child = subprocess.run([sys.executable, "-c", "import extra_mod, sys; print(sys.flags.no_site, "
                            "getattr(sys, 'pth_ran', 0), extra_mod.WHERE)"], capture_output=True, text=True)
    print(json.dumps({"where": extra_mod.WHERE, "pth_ran": getattr(sys, "pth_ran", 0),
                      "child": [child.returncode, child.stdout.strip(), child.stderr[-500:]]}))
'''

PROBE = r'''
import json, sys


def main():
    site_loaded = "site" in sys.modules
    print(json.dumps({"site_loaded": site_loaded, "exit": [type(exit).__name__, repr(exit)],
                      "quit": repr(quit), "help": repr(help), "copyright": repr(copyright),
                      "credits": repr(credits), "license": repr(license)}))
    exit(3)
'''

BUILTINS = "import json; print(json.dumps([repr(exit), repr(quit), repr(help), repr(copyright), repr(credits), " \
           "repr(license)]))"


def test_pth_files_are_processed_in_app_mode_and_in_children(b: Builder, tmp_path: Path) -> None:
    sp = f"lib/python{b.minor}/site-packages/"
    members = [Member(sp + "app.py", APP.encode()),
               Member(sp + "zz-extra.pth", b"# a comment\nextra_dir\n"
                      b"import sys; sys.pth_ran = sys.__dict__.get('pth_ran', 0) + 1\n"),
               Member(sp + "extra_dir/extra_mod.py", b"WHERE = 'from the .pth path line'\n")]
    binary = b.build(tmp_path / "app", members, "app:main")
    proc = subprocess.run([str(binary)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["where"] == "from the .pth path line" and got["pth_ran"] == 1  # once, as site does it
    assert got["child"] == [0, "0 1 from the .pth path line", ""]


def test_site_builtins_without_site_are_the_runtimes_own(b: Builder, tmp_path: Path) -> None:
    if b.kind != "runtime":
        pytest.fail("needs the real runtime (make runtime): its own builtins are the reference")
    sp = f"lib/python{b.minor}/site-packages/"
    binary = b.build(tmp_path / "probe", [Member(sp + "probe.py", PROBE.encode())], "probe:main")
    # license() reads a LICENSE file from the current directory too (site's rule): run both in an empty one.
    proc = subprocess.run([str(binary)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr  # exit(3) is site's Quitter: SystemExit(3)
    got = json.loads(proc.stdout)
    assert got["site_loaded"] is False and got["exit"][0] == "Quitter"
    ref = subprocess.run([str(b.runtime_exe), "-I", "-c", BUILTINS], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    assert [got["exit"][1], got["quit"], got["help"], got["copyright"], got["credits"],
            got["license"]] == json.loads(ref.stdout)
