"""Multi-call builds without a binary: the default entry when none is named, the symlinks beside the binary."""

from __future__ import annotations

import os
from pathlib import Path

from exxo.build import default_script, write_script_links


def test_default_script() -> None:
    ansible = dict.fromkeys(["ansible", "ansible-playbook", "ansible-vault"])
    assert default_script(ansible, ["ansible-core"]) == "ansible"  # the one the others' names begin with
    assert default_script(dict.fromkeys(["black", "blackd"]), ["black"]) == "black"  # named like the distribution
    assert default_script(dict.fromkeys(["http", "https", "httpie"]), ["httpie"]) == "httpie"
    assert default_script(dict.fromkeys(["a-tool", "b-tool"]), ["x"]) is None  # no rule: --entry is asked for
    assert default_script(dict.fromkeys(["only"]), ["x"]) is None  # one script: the usual rule takes it


def test_script_links_are_relative_and_replace_old_ones(tmp_path: Path) -> None:
    binary = tmp_path / "ansible"
    binary.write_bytes(b"\x7fELF")
    (tmp_path / "ansible-vault").write_text("an older copy")
    links = write_script_links(binary, dict.fromkeys(["ansible", "ansible-playbook", "ansible-vault"]))
    assert [p.name for p in links] == ["ansible-playbook", "ansible-vault"]
    assert all(os.readlink(p) == "ansible" for p in links)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ansible", "ansible-playbook", "ansible-vault"]
