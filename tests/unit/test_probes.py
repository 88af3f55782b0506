"""exxo/probes: each program run as the pipeline runs it (its source text under -I), here with this interpreter."""

from __future__ import annotations

import ast
import json
import marshal
import subprocess
import sys
import sysconfig
from importlib import resources
from pathlib import Path

import pytest

from exxo import probes

PROBES = sorted(p.name[:-3] for p in resources.files(probes).iterdir()
                if p.name.endswith(".py") and p.name != "__init__.py")


def run(probe: str, *args: str, flags: tuple[str, ...] = ("-I",), stdin: bytes = b"") -> bytes:
    proc = subprocess.run(probes.command(sys.executable, probe, *args, flags=flags), input=stdin,
                          capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


@pytest.mark.parametrize("probe", PROBES)
def test_probes_import_only_the_stdlib(probe: str) -> None:
    # The venv's interpreter has no exxo and maybe nothing else installed: a probe may import the stdlib only.
    tree = ast.parse(resources.files(probes).joinpath(f"{probe}.py").read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
    tops = {name.split(".")[0] for name in names} - {"__future__"}
    assert tops and tops <= sys.stdlib_module_names, tops - sys.stdlib_module_names


def test_interpreter_facts_are_this_interpreters() -> None:
    facts = json.loads(run("interpreter"))
    assert facts["site"] == sysconfig.get_paths()["purelib"]
    assert facts["tag"] == sys.implementation.cache_tag
    assert facts["version"] == ".".join(map(str, sys.version_info[:3]))
    from packaging.markers import default_environment

    assert facts["env"] == {k: v for k, v in default_environment().items() if k in facts["env"]}
    assert set(facts["env"]) == set(default_environment())


def test_compile_caches_and_skips_what_does_not_compile(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text("X = 1\n")
    (tmp_path / "bad.py").write_text("print 'py2'\n")
    request = f"pkg/good.py\0{tmp_path / 'good.py'}\0pkg/bad.py\0{tmp_path / 'bad.py'}".encode()
    cache = tmp_path / "cache"
    first = marshal.loads(run("compile", str(cache), flags=("-I", "-S"), stdin=request))
    assert set(first) == {"pkg/good.py"}  # bad.py ships as source only
    code = marshal.loads(first["pkg/good.py"][16:])
    assert code.co_filename == "pkg/good.py"  # no build-machine path in the bytecode
    assert int.from_bytes(first["pkg/good.py"][4:8], "little") == 0b01  # hash-based, unchecked
    stored = list(cache.rglob("*.pyc"))
    assert len(stored) == 1 and stored[0].read_bytes() == first["pkg/good.py"]
    stored[0].write_bytes(stored[0].read_bytes()[:16] + marshal.dumps(compile("X = 2", "pkg/good.py", "exec")))
    again = marshal.loads(run("compile", str(cache), flags=("-I", "-S"), stdin=request))
    assert again["pkg/good.py"] == stored[0].read_bytes()  # taken from the cache, not compiled again
    assert marshal.loads(run("compile", "", flags=("-I", "-S"), stdin=b"")) == {}


def test_create_venv_makes_a_standard_venv(tmp_path: Path) -> None:
    env = tmp_path / "env"
    run("create_venv", str(env))
    cfg = (env / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg
    assert (env / "bin" / "python").is_symlink() and (env / "bin" / "activate").is_file()
    assert not (env / "bin" / "pip").exists()  # exxo runs ensurepip itself, to keep its output
    prefix = subprocess.run([str(env / "bin" / "python"), "-c", "import sys; print(sys.prefix)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert prefix == str(env)


def test_compile_boot_marshals_each_module_under_a_boot_name() -> None:
    sources = json.dumps({"b": "X = 2\n", "a": "Y = 1\n"}).encode()
    out = marshal.loads(run("compile_boot", flags=("-I", "-S"), stdin=sources))
    assert sorted(out) == ["a", "b"]
    code = marshal.loads(out["b"])
    namespace: dict[str, object] = {}
    exec(code, namespace)
    assert namespace["X"] == 2 and code.co_filename == "<exxo boot>/b.py"


def test_compile_errors_names_the_file_and_line(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text("x = 1\n")
    bad.write_text("x = 1\ndef f(:\n")
    lines = run("compile_errors", str(good), str(bad), flags=("-I", "-S")).decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{bad}\t2\t")


def test_find_module_tells_found_from_missing() -> None:
    def rc(name: str) -> int:
        return subprocess.run(probes.command(sys.executable, "find_module", name, flags=("-I", "-S")),
                              capture_output=True).returncode

    assert rc("json") == 0 and rc("no_such_module_here") == 1 and rc("") == 1


def test_check_imports_reports_missing_modules_and_an_empty_environ() -> None:
    def problems(env: dict[str, str]) -> list[str]:
        argv = probes.command(sys.executable, "check_imports", "sys", "no_such_module_here")
        return subprocess.run(argv, capture_output=True, text=True, env=env).stdout.splitlines()

    with_env = problems({"EXXO_VALIDATE": "environ"})
    assert with_env[0] == "no_such_module_here" and len(with_env) == 2  # not built in, and cannot import
    assert problems({})[-1].startswith("os.environ does not hold the environment")
