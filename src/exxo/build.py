"""`exxo build`: the project in an exxo venv -> one executable (runtime + zip), see docs/design.md."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from exxo import archive, checks, collect, project, reach
from exxo.errors import InputError, OutputError, check_writable_dir
from exxo.packing import Packing, packing_for
from exxo.progress import Reporter
from exxo.venv import DEFAULT_PYTHON, is_exxo_venv, read_cfg, venv_python

EPILOG = """examples:
  exxo build                         # the project in ., the active exxo venv -> dist/<script name>
  exxo build -s ~/src/app -o /tmp/app
  exxo build --entry app-admin       # the project has several console scripts
  exxo build --main app.cli:main     # no console script: name the function
  exxo build -c                      # smallest: upx on the runtime, bytecode and native code zstd-packed,
                                     # dependencies without their .py sources, only the imported stdlib
  exxo build --no-strip              # keep the debug sections and symbols of the wheels' native code
  exxo build --all-scripts -o dist/  # one binary for every console script, a symlink per script in dist/
  exxo build --sbom                  # also write dist/<script name>.cdx.json (CycloneDX 1.6)
  ln -s app python3 && ./python3 -c "import app"  # any binary named python, python3, python3.X: the app's Python

published tools, no project needed (a private venv, cached by runtime and requirements):
  exxo build httpie --entry http -o http
  exxo build ansible-core --all-scripts -o bin/
  exxo build -r requirements.txt --constraint constraints.txt --main tool.cli:main -o tool
  exxo build httpie --entry http --no-index --find-links ./wheels -o http   # offline, from a wheelhouse

[tool.exxo] in pyproject.toml takes the same settings (flags override it):
  [tool.exxo]
  python = "3.13"        # the venv must be this version (exxo venv reads it too)
  entry = "app"          # or main = "app.cli:main"
  output = "dist/app"
  compress = false
  native = "memfd"       # or "cache"
  target = "aarch64"     # cross-build for 64-bit Arm (default: x86_64)
  scripts = "all"        # as --all-scripts
  exclude = ["*/tests/*"]  # globs relative to site-packages; include = [...] adds files
  strip = true           # drop debug sections and static symbols of native members (dynamic ones stay)
  compress-bytecode = true  # zstd for all .pyc (default: all but what the app's start imports; false: none)
  dependency-sources = true  # ship the dependencies' .py next to their bytecode (tracebacks show lines)
  stdlib-exclude = ["xmlrpc"]  # stdlib modules to leave out (default: ensurepip, pydoc_data)
  stdlib = "imported"    # only the stdlib modules the code imports (default with -c: "all" otherwise)
  stdlib-keep = ["pydoc_data"]  # stdlib modules to carry anyway (default-excluded or only computed-name imported)

The project is built by pip and installed into a private directory for the build: an editable install
(pip install -e .) in the venv stays editable. Missing requirements are pip-installed into the venv.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("build", help="build the project (or published requirements) into one executable",
                       description="Install the project into the exxo venv, then write one executable: the exxo "
                       "runtime with the project and its dependencies appended. With requirements (REQ, -r) no "
                       "project is needed: they are pip-installed into a private exxo venv, cached.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("requirements", nargs="*", metavar="REQ",
                   help="requirements to build instead of a project (pip's syntax: httpie, 'black[d]>=24', a wheel)")
    p.add_argument("-r", "--requirement", action="append", metavar="FILE", help="a requirements file (repeatable)")
    p.add_argument("-s", "--source", type=Path, default=Path("."), metavar="SRC", help="project directory (.)")
    p.add_argument("-o", "--output",
                   help="output file, or a directory to write <script name> into (an existing one, or any path "
                        "ending in /) (default: SRC/dist/<script name>)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--main", metavar="MOD:FUNC", help="run this function instead of a console script")
    group.add_argument("--entry", metavar="NAME", help="the console script to build (when there are several)")
    p.add_argument("--all-scripts", action="store_true", default=None,
                   help="carry every console script of the built distributions: run under a script's name "
                        "(symlink, hard link, copy) the binary runs that script; -o DIR also writes the symlinks")
    p.add_argument("--sbom", action="store_true", help="also write OUTPUT.cdx.json, a CycloneDX 1.6 SBOM")
    p.add_argument("-c", "--compress", action="store_true", default=None,
                   help="smallest binary: compress the runtime with upx, pack bytecode and native code with zstd, "
                        "leave out the dependencies' sources and the stdlib modules nothing imports (costs start-up "
                        "time: see the README)")
    p.add_argument("--no-strip", dest="strip", action="store_false", default=None,
                   help="keep debug sections and static symbols in the wheels' native code")
    p.add_argument("--venv", type=Path, help="the exxo venv (default: the active one, $VIRTUAL_ENV)")
    p.add_argument("--native", choices=("memfd", "cache"), help="default native-code loading mode")
    p.add_argument("--target", metavar="ARCH",
                   help="the processor the binary is for: x86_64 (default) or aarch64 (cross-built: native "
                        "requirements come from their aarch64 wheels, at the venv's versions)")
    pip = p.add_argument_group("requirements mode (REQ or -r): passed to pip")
    pip.add_argument("-p", "--python", metavar="VERSION",
                     help=f"CPython version of the private venv (default: {DEFAULT_PYTHON})")
    pip.add_argument("--constraint", action="append", metavar="FILE", help="a constraints file (pip -c)")
    pip.add_argument("--index-url", metavar="URL", help="the package index (pip --index-url)")
    pip.add_argument("--find-links", action="append", metavar="DIR|URL", help="wheels there too (pip --find-links)")
    pip.add_argument("--no-index", action="store_true", help="only --find-links, no index (offline builds)")
    p.set_defaults(run=run)


def find_venv(given: Path | None) -> Path:
    env = given or (Path(os.environ["VIRTUAL_ENV"]) if os.environ.get("VIRTUAL_ENV") else None)
    if env is None:
        raise InputError("no exxo venv: none is active and --venv was not given",
                         hint="make one and activate it:\n  exxo venv /tmp/env && . /tmp/env/bin/activate\n"
                              "then pip install your project's dependencies and run exxo build again\n"
                              "(a published tool needs no project and no venv: exxo build httpie --entry http)")
    env = env.absolute()
    if not env.is_dir():
        raise InputError(f"the venv {env} does not exist", hint="make one with: exxo venv DIR")
    if not (env / "pyvenv.cfg").is_file():
        raise InputError(f"{env} is not a virtualenv (no pyvenv.cfg)", hint="make one with: exxo venv DIR")
    if not is_exxo_venv(env):
        raise InputError(f"{env} is a virtualenv, but not an exxo venv: its interpreter is not the exxo runtime",
                         hint="make one with: exxo venv DIR, install your project's dependencies in it, "
                              "then exxo build --venv DIR")
    if not venv_python(env).exists():
        runtime = read_cfg(env).get("exxo-runtime", "?")
        raise InputError(f"the exxo venv {env} has lost its interpreter (its runtime {runtime} is gone)",
                         hint=f"recreate it: exxo venv {env} --clear, then reinstall your project's dependencies")
    return env


EMBED_PREFIX = "__exxo__/runtime/"


def runtime_members(runtime_exe: Path) -> list[archive.Member]:
    """The runtime dir's files besides the executable (headers, sysconfig Makefile, landmark, metadata), so a
    binary built with `embed-runtime = true` can recreate its runtime: how the self-hosted exxo makes venvs."""
    runtime_dir = runtime_exe.parent.parent
    out = []
    for path in sorted(runtime_dir.rglob("*")):
        rel = path.relative_to(runtime_dir).as_posix()
        if path.is_file() and not path.is_symlink() and not rel.startswith("bin/"):
            out.append(archive.Member(EMBED_PREFIX + rel, path.read_bytes()))
    return out


STALE_SECONDS = 3600


def requested_output(given: str | None, src: Path, config: dict[str, object]) -> tuple[Path, bool]:
    """(path, whether it is a directory to write <script name> into) from -o (relative to the current
    directory) or [tool.exxo] output (relative to the project); a path ending in / is a directory."""
    if given is None and isinstance(config.get("output"), str):
        given, base = str(config["output"]), src
    else:
        base = Path.cwd()
    if not given:
        return src / "dist", True
    path = (base / given).absolute()
    return path, given.endswith("/") or path.is_dir()


def final_output(path: Path, is_dir: bool, name: str) -> Path:
    output = path / name if is_dir else path
    if output.is_dir():
        raise OutputError(f"cannot write the binary {output}: it is a directory",
                          hint="remove it, or choose another output: -o FILE, or -o DIR/ to write DIR/<script name>")
    check_writable_dir(output.parent, f"the binary {output}")
    return output


def remove_stale_temps(output: Path) -> None:
    """The temp files a killed `exxo build` left beside the output (the writer's .<name>.*.tmp), once an hour
    old: a build running now writes its own all the time."""
    now = time.time()
    for tmp in output.parent.glob(f".{output.name}.*.tmp"):
        try:
            if now - tmp.lstat().st_mtime > STALE_SECONDS:
                tmp.unlink()
        except OSError:
            pass


def _log_path(name: str) -> Path:
    import re

    from exxo.common import cache_root

    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60]  # a requirement may be a path or a URL
    return cache_root() / "logs" / f"build-{safe}-{time.strftime('%Y%m%d-%H%M%S')}.log"


@dataclass
class App:
    """What a build ships, whichever way it was asked for (a project, or published requirements)."""

    python: Path  # the venv's interpreter (the runtime)
    version: str  # its CPython release
    roots: list[str]  # the distributions whose requirement closure is the app
    first: list[Path]  # directories that shadow the venv (the project's private install)
    proj: project.Project  # name, console scripts and [tool.exxo] that choose the entry
    own_code: Path | None  # where the project's own modules are (None: only published code)


def _project_app(args: argparse.Namespace, env: Path, tmp: Path, rep: Reporter) -> App:
    python = venv_python(env)
    cfg = read_cfg(env)
    src = args.source.absolute()
    config = project.read_config(src)
    wanted = config.get("python")
    have = cfg.get("exxo-python", "")
    if wanted and not (have == wanted or have.startswith(wanted + ".")):
        raise InputError(f"[tool.exxo] python = {wanted!r}, but the venv {env} is CPython {have or '?'}",
                         hint=f"make a venv for it: exxo venv DIR -p {wanted}, then exxo build --venv DIR")
    rep.stage(f"pip: building {src}")
    proj = project.install(python, src, tmp, rep)
    return App(python, have, [proj.name], [proj.location], proj, proj.location)


def _requirements_app(args: argparse.Namespace, rep: Reporter, cross: bool = False) -> App:
    from exxo import collect, toolenv
    from exxo.errors import BuildError
    from exxo.runtime.bootstrap import build_python, ensure_runtime

    request = toolenv.PipRequest.from_args(args)
    version = args.python or DEFAULT_PYTHON
    try:  # a cross build: this machine's runtime that built the target's (any cached one of the release)
        runtime = build_python(version) if cross else ensure_runtime(version, rep)
    except BuildError:
        runtime = ensure_runtime(version, rep)
    tool = toolenv.ensure(runtime, request, rep)
    rep.info(("reusing" if tool.reused else "made") + f" the private venv {tool.path}")
    inv = collect.inventory(tool.python)
    requested = [n for n in tool.requested if n in inv.dists]
    if not requested:
        raise InputError("pip installed none of the requirements as a distribution exxo can read",
                         hint="give requirements by name (httpie, 'black>=24'), or wheel files")
    scripts: dict[str, Any] = {}
    for name in requested:
        for script, ep in sorted(inv.dists[name]["scripts"].items()):
            scripts.setdefault(script, ep)
    wanted = canonicalize_name(args.entry or "")
    if args.entry and all(canonicalize_name(s) != wanted for s in scripts):
        for dist in inv.dists.values():  # a script of what they require (`jupyter` of jupyter_core)
            scripts.update({s: ep for s, ep in dist["scripts"].items() if canonicalize_name(s) == wanted})
    if not scripts and not args.main:
        raise InputError(f"{', '.join(requested)}: no console script, so exxo does not know what the binary runs",
                         hint="name the function: --main MODULE:FUNCTION, or a script of what they require: "
                              "--entry NAME")
    dist = inv.dists[requested[0]]
    proj = project.Project(Path.cwd(), ", ".join(requested), dist["version"], inv.site, scripts, [], {})
    return App(tool.python, runtime.version, requested, [], proj, None)


ELF_MACHINES = {62: "x86_64", 183: "aarch64"}


def check_native_target(members: list[archive.Member], target: str) -> None:
    """A cross-built binary carries the target's runtime but the venv's packages: any native code in them is
    the build machine's and would not load there. Name it (until exxo installs the target's wheels itself)."""
    foreign = []
    for m in members:
        data = m.data
        if data[:4] == b"\x7fELF" and len(data) > 20:
            machine = ELF_MACHINES.get(int.from_bytes(data[18:20], "little"), "another processor")
            if machine != target:
                foreign.append(f"{m.name} ({machine})")
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise InputError(f"--target {target}: the app carries native code built for another processor: {shown}",
                         hint=f"exxo takes a requirement's native code from its {target} wheel; code compiled "
                              f"from an sdist or by the project itself is this machine's: ship it as a {target} "
                              "wheel, or build for this machine (no --target)")


def has_foreign_native(members: list[archive.Member], target: str) -> bool:
    try:
        check_native_target(members, target)
    except InputError:
        return True
    return False


def venv_pins(python: Path, dest: Path, skip: set[str]) -> Path:
    """A constraints file of the venv's versions (pip freeze; not the project itself, nor local or editable
    installs), so the target's wheels are those the venv was tested with."""
    import subprocess

    proc = subprocess.run([str(python), "-m", "pip", "freeze", "--disable-pip-version-check", "--exclude-editable"],
                          capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines()
             if "==" in line and " @ " not in line and canonicalize_name(line.split("==")[0]) not in skip]
    dest.write_text("\n".join(lines) + "\n")
    return dest


def install_target_wheels(python: Path, pip_args: list[str], target: str, version: str, dest: Path,
                          rep: Reporter) -> None:
    """pip installs the requirements' wheels for `target` (manylinux2014: glibc 2.17, like the runtime) into
    `dest`, which then shadows the venv's (this machine's) copies. Wheels only: nothing is compiled for another
    processor, so a requirement without a wheel for it fails, named."""
    import re
    import subprocess

    minor = ".".join(version.split(".")[:2])
    abi = "cp" + minor.replace(".", "")
    argv = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-compile",
            "--platform", f"manylinux2014_{target}", "--only-binary=:all:", "--python-version", minor,
            "--implementation", "cp", "--abi", abi, "--target", str(dest), *pip_args]
    rep.stage(f"pip: the {target} wheels")
    rep.log("$ " + " ".join(argv))
    proc = subprocess.run(argv, capture_output=True, text=True)
    rep.log(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        names = re.findall(r"No matching distribution found for (\S+)", proc.stderr)
        if names:
            raise InputError(f"--target {target}: no {target} wheel of {', '.join(names)} for CPython {minor} "
                             f"(manylinux2014_{target} or older)",
                             hint="exxo does not compile sdists for another processor: pick a version that has a "
                                  f"manylinux {target} wheel, or build for this machine (no --target)")
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise InputError(f"--target {target}: pip could not install the {target} wheels:\n{tail}",
                         hint="see the build log; pip's own message above names the requirement")


def _target_runtime(version: str, target: str, rep: Reporter) -> Path:
    """The target's runtime executable of the same CPython release as the venv (built when missing)."""
    from exxo.runtime.bootstrap import ensure_runtime

    rep.stage(f"the {target} runtime of CPython {version}")
    return ensure_runtime(version, rep, target=target).python


def all_scripts(inv: collect.Inventory, roots: list[str]) -> dict[str, dict[str, Any]]:
    """Every console script of the app's distributions (the roots' first, then their requirements'): the
    names a multi-call binary answers to, each with what it runs."""
    out: dict[str, dict[str, Any]] = {}
    for name in collect.closure(inv, roots)[0]:
        for script, ep in sorted(inv.dists[name]["scripts"].items()):
            out.setdefault(script, {"module": ep.module, "attr": ep.attr})
    return dict(sorted(out.items()))


def default_script(scripts: dict[str, Any], roots: list[str]) -> str | None:
    """The default entry of a multi-call binary when none is named: the script named like a distribution built
    (black), else the one every other script's name begins with (ansible for ansible-playbook, ansible-vault)."""
    if len(scripts) < 2:
        return None
    named = [s for s in scripts if canonicalize_name(s) in roots]
    prefix = [s for s in scripts if all(other.startswith(s) for other in scripts)]
    chosen = named or prefix
    return chosen[0] if chosen else None


def _python_info(runtime_exe: Path, version: str, tag: str) -> dict[str, Any]:
    """The manifest's `python`: the release, and the runtime's components (CPython and each library linked
    into it, with version, licence, source URL and sha256), so the binary can say what it is made of."""
    from exxo.runtime import sources

    info: dict[str, Any] = {"version": version, "minor": ".".join(version.split(".")[:2]), "tag": tag}
    meta_path = runtime_exe.parent.parent / "runtime.json"
    if not meta_path.is_file():
        return info
    meta = json.loads(meta_path.read_text())
    pinned = sources.CPYTHON.get(version)
    components = [{"name": "cpython", "version": version, "license": "PSF-2.0",
                   "sha256": meta.get("source", {}).get("sha256", ""), "url": pinned.url if pinned else ""}]
    for c in meta.get("components", []):
        lib = sources.LIBRARIES.get(c["name"])
        url = lib.url if lib is not None and lib.version == c["version"] else ""
        components.append({"name": c["name"], "version": c["version"], "license": c.get("license", ""),
                           "sha256": c.get("sha256", ""), "url": url})
    info["components"] = sorted(components, key=lambda c: c["name"])
    info["toolchain"] = meta.get("toolchain", "")
    return info


def entry_modules(entry: dict[str, Any]) -> list[str]:
    """The modules a binary starts in: its entry's, and every script's of a multi-call binary."""
    out = [str(entry["module"])]
    for ep in entry.get("scripts", {}).values():
        out.append(str(ep["module"] if isinstance(ep, dict) else getattr(ep, "module", str(ep).split(":")[0])))
    return out


BOOT_INIT = "__exxo__/boot/__init__.pyc"  # the boot's own code, scanned for imports like its modules


def imported_stdlib_only(pack: Packing, python: Path, runtime_exe: Path, members: list[archive.Member],
                         boot_modules: dict[str, bytes], python_info: dict[str, Any], rep: Reporter) -> Packing:
    """`pack` leaving out the stdlib's top-level modules that no shipped code reaches (exxo.reach)."""
    minor = python_info.get("minor") or ".".join(str(python_info.get("version", "")).split(".")[:2])
    code = {m.name: m.data for m in members if m.name.endswith((".pyc", ".pth")) or m.data[:4] == b"\x7fELF"}
    left = reach.unreached(python, runtime_exe.read_bytes(), f"lib/python{minor}", {**code, **boot_modules},
                           pack.keep, pack.stdlib_exclude)
    rep.log(f"stdlib = \"imported\": {len(left)} top-level stdlib modules left out: {', '.join(left)}")
    new = tuple(m for m in left if m not in pack.stdlib_exclude)
    return replace(pack, stdlib_exclude=(*pack.stdlib_exclude, *new), unimported=new)


def write_script_links(output: Path, scripts: dict[str, Any]) -> list[Path]:
    """DIR/<script> -> <binary name> (relative symlinks) beside a multi-call binary written into DIR."""
    links = []
    for name in scripts:
        link = output.parent / name
        if link == output or "/" in name:
            continue
        if link.is_dir() and not link.is_symlink():
            raise OutputError(f"cannot write the symlink {link}: it is a directory", hint="remove it, or use -o")
        tmp = link.with_name(f".{name}.link.tmp")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(output.name, tmp)
        os.replace(tmp, link)
        links.append(link)
    return links


def run(args: argparse.Namespace) -> int:
    start = time.monotonic()
    req_mode = bool(args.requirements or args.requirement)
    env = None  # the project's exxo venv (requirements get a private one)
    if not req_mode:
        given = [f for f, v in (("-p", args.python), ("--constraint", args.constraint),
                                ("--index-url", args.index_url), ("--find-links", args.find_links),
                                ("--no-index", args.no_index)) if v]
        if given:
            raise InputError(f"{', '.join(given)} only apply when building requirements (REQ or -r FILE)",
                             hint="name what to build: exxo build httpie --entry http " + " ".join(given))
        env = find_venv(args.venv)
        project.check_source(args.source.absolute())
    elif args.venv or args.source != Path("."):
        flag = "--venv" if args.venv else "-s"
        raise InputError(f"{flag} builds a project; requirements (REQ, -r) get a private venv and need no project",
                         hint=f"drop {flag}, or drop the requirements and build the project")
    src = Path.cwd() if req_mode else args.source.absolute()
    config = {} if req_mode else project.read_config(src)
    native = args.native or config.get("native", "memfd")
    compress = args.compress if args.compress is not None else bool(config.get("compress", False))
    multi = args.all_scripts if args.all_scripts is not None else config.get("scripts") == "all"
    out_path, out_is_dir = requested_output(args.output, src, config)
    check_writable_dir(out_path if out_is_dir else out_path.parent,  # fail before the (slow) pip build
                       f"the binary {out_path / '<script name>' if out_is_dir else out_path}")
    if compress:
        from exxo.compress import find_upx

        find_upx()
    from exxo.runtime import toolchain

    target = toolchain.check_target(str(args.target or config.get("target") or toolchain.HOST_ARCH))
    cross = target != toolchain.HOST_ARCH
    if cross and not os.environ.get("EXXO_STRIP"):
        import shutil

        os.environ["EXXO_STRIP"] = shutil.which(f"{toolchain.CROSS[target]['triple']}-strip") or "strip"
    label = (args.requirements or [Path(args.requirement[0]).stem])[0] if req_mode else src.name
    with Reporter(_log_path(label)) as rep, tempfile.TemporaryDirectory(prefix="exxo-build-") as tmp:
        app = _requirements_app(args, rep, cross) if env is None else _project_app(args, env, Path(tmp), rep)
        python, proj = app.python, app.proj
        if cross and req_mode:  # the target's wheels shadow the private venv's
            from exxo import toolenv

            wheels = Path(tmp) / f"{target}-site"
            install_target_wheels(python, toolenv.PipRequest.from_args(args).pip_args(), target,
                                  app.version or collect.interpreter_facts(python)["version"], wheels, rep)
            app.first = [wheels, *app.first]
        runtime_exe = python.resolve()
        if cross:  # the venv (this machine's runtime) runs pip and compiles the bytecode; the ELF is the target's
            runtime_exe = _target_runtime(app.version or collect.interpreter_facts(python)["version"], target, rep)
        entry_arg = args.entry
        if multi and entry_arg is None and args.main is None and proj.config.get("entry") is None:
            entry_arg = default_script(proj.scripts, app.roots)
        name, entry = project.choose_entry(proj, entry_arg, args.main)
        output = final_output(out_path, out_is_dir, name)
        if app.own_code is not None:
            project.ensure_requirements(python, proj, rep)
        rep.stage(f"collecting {', '.join(app.roots)} and their requirements")
        dep_sources = bool(config.get("dependency-sources", not compress))
        members, inv = collect.collect(python, app.roots, config.get("include"), config.get("exclude"),
                                       first=app.first, dependency_sources=dep_sources)
        if cross and not req_mode and has_foreign_native(members, target):
            # The venv's native code is this machine's: its distributions again from the target's wheels, at
            # the venv's versions, shadowing the venv (the project's own install stays first).
            wheels = Path(tmp) / f"{target}-site"
            pins = venv_pins(python, Path(tmp) / "venv-pins.txt", {canonicalize_name(r) for r in app.roots})
            install_target_wheels(python, [str(src), "-c", str(pins)], target, app.version or inv.version, wheels, rep)
            app.first = [*app.first, wheels]
            members, inv = collect.collect(python, app.roots, config.get("include"), config.get("exclude"),
                                           first=app.first, dependency_sources=dep_sources)
        if multi:
            entry["scripts"] = all_scripts(inv, app.roots)
        boot, boot_modules = archive.compile_boot(python)
        python_info = _python_info(runtime_exe, app.version or inv.version, inv.tag)
        if cross:
            check_native_target(members, target)
            python_info["target"] = target  # only for a cross build: an x86-64 build's manifest is unchanged
        embed = bool(config.get("embed-runtime", False))
        pack = packing_for(config, compress, args.strip)
        if embed:  # the binary recreates its runtime from its own stdlib members: all of them, as built
            members += runtime_members(runtime_exe)
            pack = replace(pack, stdlib_exclude=(), user_excluded=(), bytecode="stored")
        if pack.bytecode == "auto" and not pack.compress_native and not embed:
            hot = frozenset(reach.hot_members(python, {m.name: m.data for m in members}, entry_modules(entry)))
            rep.log(f"{len(hot)} members the start imports stay stored; the rest of the code is packed")
            pack = replace(pack, hot=hot)
        if pack.stdlib == "imported" and not embed:
            rep.stage("finding the stdlib modules the app imports")
            pack = imported_stdlib_only(pack, python, runtime_exe, members, {**boot_modules, BOOT_INIT: boot},
                                        python_info, rep)
        checks.check_members(members)
        location = app.own_code or inv.site
        if app.own_code is not None:
            checks.check_own_code(python, members, app.own_code, inv.tag)
        checks.check_entry(python, members, entry, location, inv.tag, proj.name)
        rep.stage(f"writing {output}")
        remove_stale_temps(output)
        try:
            info = archive.write_binary(output, runtime_exe, members, entry, native, python_info, boot,
                                        boot_modules, pack)
            links = write_script_links(output, entry["scripts"]) if multi and out_is_dir else []
        except OSError as exc:
            if not str(exc.filename or "").startswith(str(output.parent)):
                raise
            raise OutputError(f"cannot write the binary {output}: {exc.strerror or exc}",
                              hint="choose another output path (-o), or fix what the message says") from exc
        for note in pack.notes:
            rep.log(note)
        if compress:
            from exxo.compress import compress_binary

            rep.stage("compressing the runtime part with upx")
            compress_binary(output)
        sbom_path = None
        if args.sbom:
            from exxo import sbom

            sbom_path = output.with_name(output.name + ".cdx.json")
            rep.stage(f"writing the SBOM {sbom_path}")
            sbom.write(output, sbom_path)
    size = output.stat().st_size
    print(f"exxo: built {output} ({size / 1e6:.1f} MB, {info.members} files, build {info.build_id[:12]}) "
          f"in {time.monotonic() - start:.1f}s; runs {entry['module']}:{entry['attr'] or '__main__'}")
    if multi:
        print(f"exxo: answers to {len(entry['scripts'])} scripts: {', '.join(entry['scripts'])}"
              + (f" ({len(links)} symlinks in {output.parent})" if links else ""))
    if sbom_path is not None:
        print(f"exxo: SBOM {sbom_path}")
    return 0
