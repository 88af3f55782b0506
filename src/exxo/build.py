"""`exxo build`: the project in an exxo venv -> one executable (runtime + zip), see docs/design.md."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from exxo import archive, checks, collect, project
from exxo.errors import InputError, OutputError, check_writable_dir
from exxo.progress import Reporter
from exxo.venv import is_exxo_venv, read_cfg, venv_python

EPILOG = """examples:
  exxo build                         # the project in ., the active exxo venv -> dist/<script name>
  exxo build -s ~/src/app -o /tmp/app
  exxo build --entry app-admin       # the project has several console scripts
  exxo build --main app.cli:main     # no console script: name the function
  exxo build -c                      # compress the runtime part with upx

[tool.exxo] in pyproject.toml takes the same settings (flags override it):
  [tool.exxo]
  python = "3.13"        # the venv must be this version (exxo venv reads it too)
  entry = "app"          # or main = "app.cli:main"
  output = "dist/app"
  compress = false
  native = "memfd"       # or "cache"
  exclude = ["*/tests/*"]  # globs relative to site-packages; include = [...] adds files

The project is built by pip and installed into a private directory for the build: an editable install
(pip install -e .) in the venv stays editable. Missing requirements are pip-installed into the venv.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("build", help="build the project into one executable",
                       description="Install the project into the exxo venv, then write one executable: the exxo "
                       "runtime with the project and its dependencies appended.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-s", "--source", type=Path, default=Path("."), metavar="SRC", help="project directory (.)")
    p.add_argument("-o", "--output",
                   help="output file, or a directory to write <script name> into (an existing one, or any path "
                        "ending in /) (default: SRC/dist/<script name>)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--main", metavar="MOD:FUNC", help="run this function instead of a console script")
    group.add_argument("--entry", metavar="NAME", help="the console script to build (when there are several)")
    p.add_argument("-c", "--compress", action="store_true", default=None, help="compress the runtime with upx")
    p.add_argument("--venv", type=Path, help="the exxo venv (default: the active one, $VIRTUAL_ENV)")
    p.add_argument("--native", choices=("memfd", "cache"), help="default native-code loading mode")
    p.set_defaults(run=run)


def find_venv(given: Path | None) -> Path:
    env = given or (Path(os.environ["VIRTUAL_ENV"]) if os.environ.get("VIRTUAL_ENV") else None)
    if env is None:
        raise InputError("no exxo venv: none is active and --venv was not given",
                         hint="make one and activate it:\n  exxo venv /tmp/env && . /tmp/env/bin/activate\n"
                              "then pip install your project's dependencies and run exxo build again")
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
    from exxo.common import cache_root

    return cache_root() / "logs" / f"build-{name}-{time.strftime('%Y%m%d-%H%M%S')}.log"


def run(args: argparse.Namespace) -> int:
    start = time.monotonic()
    env = find_venv(args.venv)
    python = venv_python(env)
    runtime_exe = python.resolve()
    cfg = read_cfg(env)
    src = args.source.absolute()
    project.check_source(src)
    config = project.read_config(src)
    wanted = config.get("python")
    have = cfg.get("exxo-python", "")
    if wanted and not (have == wanted or have.startswith(wanted + ".")):
        raise InputError(f"[tool.exxo] python = {wanted!r}, but the venv {env} is CPython {have or '?'}",
                         hint=f"make a venv for it: exxo venv DIR -p {wanted}, then exxo build --venv DIR")
    native = args.native or config.get("native", "memfd")
    compress = args.compress if args.compress is not None else bool(config.get("compress", False))
    out_path, out_is_dir = requested_output(args.output, src, config)
    check_writable_dir(out_path if out_is_dir else out_path.parent,  # fail before the (slow) pip build
                       f"the binary {out_path / '<script name>' if out_is_dir else out_path}")
    if compress:
        from exxo.compress import find_upx

        find_upx()
    with Reporter(_log_path(src.name)) as rep, tempfile.TemporaryDirectory(prefix="exxo-build-") as tmp:
        rep.stage(f"pip: building {src}")
        proj = project.install(python, src, Path(tmp), rep)
        name, entry = project.choose_entry(proj, args.entry, args.main)
        output = final_output(out_path, out_is_dir, name)
        project.ensure_requirements(python, proj, rep)
        rep.stage(f"collecting {proj.name} and its requirements")
        members, inv = collect.collect(python, proj.name, config.get("include"), config.get("exclude"),
                                       first=[proj.location])
        boot, boot_modules = archive.compile_boot(python)
        version = cfg.get("exxo-python", inv.version)
        python_info = {"version": version, "minor": ".".join(version.split(".")[:2]), "tag": inv.tag}
        embed = bool(config.get("embed-runtime", False))
        if embed:
            members += runtime_members(runtime_exe)
        checks.check_members(members)
        checks.check_own_code(python, members, proj.location, inv.tag)
        checks.check_entry(python, members, entry, proj.location, inv.tag, proj.name)
        rep.stage(f"writing {output}")
        remove_stale_temps(output)
        try:
            info = archive.write_binary(output, runtime_exe, members, entry, native, python_info, boot,
                                        boot_modules, keep_ensurepip=embed)
        except OSError as exc:
            if not str(exc.filename or "").startswith(str(output.parent)):
                raise
            raise OutputError(f"cannot write the binary {output}: {exc.strerror or exc}",
                              hint="choose another output path (-o), or fix what the message says") from exc
        if compress:
            from exxo.compress import compress_binary

            rep.stage("compressing the runtime part with upx")
            compress_binary(output)
    size = output.stat().st_size
    print(f"exxo: built {output} ({size / 1e6:.1f} MB, {info.members} files, build {info.build_id[:12]}) "
          f"in {time.monotonic() - start:.1f}s; runs {entry['module']}:{entry['attr'] or '__main__'}")
    return 0
