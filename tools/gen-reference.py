"""Write docs/reference.md: the CLI (generated from the argparse parser), config keys, variables, exit codes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from exxo import errors  # noqa: E402
from exxo.cli import build_parser  # noqa: E402

STATIC = """
## `[tool.exxo]` in pyproject.toml

The same settings as `exxo build`'s flags; flags override them.

| key | type | meaning |
|---|---|---|
| `python` | string | the CPython version the project is built for (`"3.13"`): `exxo build` refuses a venv of another version, `exxo venv` uses it as its default `-p` |
| `entry` | string | console script to build when the project has several (`--entry`) |
| `main` | string | `module:function` to run instead of a console script (`--main`) |
| `output` | string | output path, relative to the project (`-o`) |
| `compress` | bool | the smallest binary (`-c`): the runtime compressed with upx, native members packed with zstd (decompressed into their memfd at first load), the dependencies' `.py` left out where their bytecode compiled, the stdlib cut to what the code imports (`stdlib = "imported"`); costs start-up time (README figures) |
| `native` | `"memfd"` or `"cache"` | default native-code loading mode (`--native`) |
| `include` | list of globs | extra files from site-packages to ship (relative to site-packages) |
| `exclude` | list of globs | files of the collected distributions to leave out |
| `scripts` | `"all"` | a multi-call binary: it carries every console script of the app's distributions and runs the one it is named after (`--all-scripts`) |
| `embed-runtime` | bool | the binary can recreate the bare runtime it carries (and keeps ensurepip's pip wheel), so it can make venvs without a bootstrap: how `dist/exxo` is built (default false) |
| `strip` | bool | drop the debug sections and static symbol table of the wheels' native members at build time; dynamic symbols stay, and a file is kept as it is unless every byte the loader maps is unchanged (default true; `--no-strip`) |
| `compress-bytecode` | bool | true: pack every `.pyc` member with zstd (~2/3 smaller; decompressed at each import); false: store them all. Default: what the app's start imports (its entry modules and, transitively, what they import at module level) stored, the rest packed: the stdlib's, test modules' and every module the start does not import. Native members follow the same split: the extension modules (and the libraries they need) the start imports stored, the others packed and decompressed into their memfd if they are loaded after all |
| `dependency-sources` | bool | ship the dependencies' `.py` files next to their bytecode, for traceback source lines and `inspect.getsource` (default true, false with `-c`); the project's own sources always ship |
| `stdlib-exclude` | list of module names | stdlib modules (`"xmlrpc"`, `"email.mime"`) to leave out, besides the default `ensurepip` and `pydoc_data`; importing one raises ModuleNotFoundError naming this setting |
| `stdlib` | `"all"` or `"imported"` | `"imported"` (the default of `-c`) leaves out every top-level stdlib module or package that no shipped code can import: import statements anywhere in the app's, its dependencies' and the kept stdlib's bytecode, dotted-name strings, names handed to `importlib.import_module`, and what built-in C modules import are followed; a module imported only by a name computed at run time then raises ModuleNotFoundError naming `stdlib-keep` (default `"all"`) |
| `stdlib-keep` | list of module names | stdlib modules to carry anyway: default-excluded ones (`["pydoc_data"]` for `help()` topics) and, with `stdlib = "imported"`, ones only a computed name imports (`["pdb"]` for `breakpoint()`) |
| `target` | `"x86_64"` or `"aarch64"` | the processor the binary is for (`--target`; default x86_64): aarch64 is cross-built with the aarch64 runtime (`exxo bootstrap --target aarch64`), native requirements from their aarch64 wheels |

## Environment variables

| variable | read by | meaning |
|---|---|---|
| `EXXO_NATIVE` | the binary | `memfd` or `cache`: force the native-code loading mode (no fallback); any other value: the binary exits 78 |
| `XDG_CACHE_HOME` | exxo, the binary | cache root (default `~/.cache`; a relative path is ignored, as the XDG spec says): runtimes, sources, deps, native cache. The binary refuses a native cache another user could write into (a directory on the way owned by someone else but root, or writable by others without the sticky bit) and loads from memory instead, with a warning |
| `SSL_CERT_FILE`, `SSL_CERT_DIR` | the runtime | CA bundle; when unset and OpenSSL's own dir has none, the launcher uses the system's well-known bundle |
| `EXXO_PYTHON` | the binary | internal: `1` makes one child a Python interpreter (set by the binary itself for `sys.executable` children, removed at start) |
| `EXXO_CWD` | the binary | internal: the working directory inside the binary that a child exec'ed from there inherits (the kernel's cannot be inside a file); the binary takes it back and removes it at start |
| `SOURCE_DATE_EPOCH` | exxo build | timestamp for zip entries (reproducible builds) |
| `EXXO_UPX` | exxo build `-c` | path of the upx executable (default: `upx` or `upx-ucl` on PATH; `bash tools/build-upx.sh` builds one and prints its path) |
| `EXXO_NO_PYC_CACHE` | exxo build | set: do not reuse byte-compiled files from `~/.cache/exxo/pyc` (content-addressed; on by default) |
| `EXXO_DEBUG` | exxo | `1`: show the traceback of an internal error (exit code 70) |
| `EXXO_BUILD_PYTHON` | exxo bootstrap `--target` | the x86-64 runtime's python that a cross build runs (default: this exxo's runtime of the release, else any cached one of it) |
| `EXXO_PYTHON_FOR_REGEN` | exxo bootstrap | interpreter that runs CPython's regeneration scripts (default: the one running exxo) |
| `EXXO_GLIBC_CAP` | exxo bootstrap | highest glibc symbol version the validator accepts (default 2.17) |
| `EXXO_RUNTIME_OPT` | exxo bootstrap | `pgo-lto` (default: gcc PGO + LTO) or `plain` (-O3 only, what `--plain` sets); part of the runtime's cache key |

Everything else the binary ignores like `python -I`: `PYTHONPATH`, `PYTHONHOME`, `PYTHONSTARTUP`, the user site.

## Exit codes of `exxo`

| code | meaning |
|---|---|
"""

MANIFEST = """
## Building published requirements (no project)

`exxo build REQ [REQ ...] [-r FILE]` builds what pip installs for those requirements, with no project and no
venv to prepare: exxo makes a private exxo venv under `$XDG_CACHE_HOME/exxo/envs/<runtime>-<key>` (the key
hashes the runtime, the requirements as given, the contents of every `-r`/`--constraint` file, `--index-url`,
`--no-index` and the file names in each `--find-links` directory), pip-installs the requirements into it and
builds. The same command line reuses that venv (no pip run, no network) and gives byte-identical binaries; any
change to those inputs makes a new venv (delete `~/.cache/exxo/envs/` to refresh unpinned requirements). The
binary runs the console script `--entry NAME` (any script of the installed distributions), `--main MOD:FUNC`,
or the only script of the distributions asked for; with several and neither flag, the error lists them.
`-p VERSION` chooses the runtime (default 3.13). pip's options: `--constraint FILE` (pip's `-c`; exxo's own `-c`
is `--compress`), `--index-url URL`, `--find-links DIR|URL` (repeatable), `--no-index`: offline builds from a
wheelhouse work (`pip download -d wheels httpie` once, then `exxo build httpie --entry http --no-index
--find-links wheels`). A requirement pip cannot resolve or install ends with pip's own message and exit code 3;
the half-made venv is removed.

## Multi-call binaries and the `python` names

`exxo build --all-scripts` (or `scripts = "all"`) records every console script of the app's distributions (the
project's or the requirements', then those of what they require) in the manifest (`entry.scripts`). The binary
looks at the name it is run under (the last part of `argv[0]`): a symlink, hard link or copy named like one of
them runs that script; any other name runs the default entry (`--entry`; with `--all-scripts` and no
`--entry`: the script named like a distribution built, else the one whose name every other script's begins
with, as `ansible` for `ansible-playbook`). With `-o DIR/` (or the default `dist/`) exxo also writes a
relative symlink `DIR/<script>` -> `<binary name>` per script.

Every binary (multi-call or not) run under the name `python`, `python3` or `python3.X` (X: its own minor
version) is the Python interpreter of the app's environment, as a venv's `bin/python` is: the command line is
CPython's (`-c`, `-m`, a script path, `-` or stdin, `-i`, `-I`, `-X`, `-O`, `-u`...), the app's distributions
are importable, `sys.executable` is the binary, and `multiprocessing` (spawn, forkserver) works. The binary
re-executes itself once in its interpreter mode (`EXXO_PYTHON=1`) for that; unlike the app, the interpreter
honours `PYTHONPATH` and CPython's other `PYTHON*` variables as a venv's python does (not `PYTHONHOME`: the
binary is its own home). `exxo inspect` lists the names a binary answers to.

## Bill of materials (SBOM)

`exxo inspect --sbom BINARY` prints a CycloneDX 1.6 JSON document, `exxo build --sbom` writes it to
`OUTPUT.cdx.json`; both read only the binary. Components:
- every distribution in the binary: name, version, purl `pkg:pypi/<name>@<version>`, licence (the
  `License-Expression` of its metadata, else its licence classifiers, SPDX ids where a classifier names exactly
  one, else its `License` field when that is a name), and each of its files in the binary (its RECORD's rows,
  plus the bytecode exxo compiled) as a nested `file` component with its SHA-256;
- the CPython runtime and each library linked into it (OpenSSL, SQLite, libffi, xz, bzip2, zlib, ncurses,
  libedit, util-linux's libuuid, zstd for 3.14; expat and mpdecimal as CPython's bundled copies): version,
  SPDX licence, a `source-distribution` reference with the source URL and its sha256 from exxo's pinned
  table, recorded in the manifest at build time (`python.components`);
- every native library a wheel bundles (`<dist>.libs/`): its soname and SHA-256;
- SBOMs shipped inside wheels (PEP 770, `.dist-info/sboms/`): linked from their distribution (an external
  reference of type `bom` to the file's path in the binary, with its SHA-256).
Its `dependencies` say what depends on what: the binary on every distribution, the runtime and the bundled
libraries; CPython on its libraries; each distribution on the ones its `Requires-Dist` names that the binary
carries (markers evaluated for the binary's Python; requirements of extras are not drawn, as the binary does not
record which extras were asked for). The document describes the binary itself as `metadata.component` (name, build id, SHA-256 of the file, the
scripts it answers to). It is deterministic: the serial number derives from the build id and the file's hash,
the timestamp is the binary's zip date (`SOURCE_DATE_EPOCH`, else 1980-01-01), lists are sorted.

## Manifest format

See [design.md](design.md), defined once in `src/exxo/format.py`: the binary's zip ends with a 74-byte comment
locating the boot code and the JSON manifest (`format` 2): exxo and Python versions, entry point, build id,
native mode, the index of members (with each member's CRC-32) and the ELF facts of native members; the binary
index before the manifest serves the launcher's file-system view. The app's members sit under
`lib/python3.X/site-packages/`, data installed outside it (`share/`, `etc/`) at its prefix-relative path.

## Exit codes of a built binary

The app's own: the entry function's return value or `SystemExit`; 1 on an uncaught exception (traceback
printed), 130 on Ctrl-C as CPython. 126: the binary is damaged (truncated, cut by even one byte, a corrupt
trailer, member index, manifest or boot code); one line names the file and says to rebuild or re-copy it. A
member whose bytes do not match its CRC-32 when it is read is an `OSError` (EIO) naming the member. 78: `EXXO_NATIVE` is set to something other than `memfd` or
`cache` (the message says so). Native code that cannot be loaded in any mode is an `ImportError` of the app
(exit 1), naming each mode's reason.
"""


def render() -> str:
    import os

    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: fix it so the file is reproducible
    parser = build_parser()
    out = ["# Reference", "", "Generated by `tools/gen-reference.py` from exxo's own parser.", "", "## Commands", ""]
    out += ["```", parser.format_help().rstrip(), "```", ""]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        out += [f"### `exxo {name}`", "", "```", p.format_help().rstrip(), "```", ""]
    out.append(STATIC.strip("\n"))
    codes = {
        errors.EXIT_OK: "success",
        errors.EXIT_ERROR: "a failure reported with a message and a hint",
        errors.EXIT_USAGE: "bad command line",
        errors.EXIT_BUILD: "building the runtime or the app failed (the log's last lines and its path are shown); "
                           "pip could not install the requirements of `exxo build REQ...` (pip's own message, "
                           "then exxo's hint)",
        errors.EXIT_INPUT: "bad input: a project, venv, source tarball or binary exxo cannot use; a project whose "
                           "entry point cannot start (a module or function that is not there, a package without "
                           "`__main__`) or whose own code does not compile; a file the binary cannot hold (a name "
                           "that is not UTF-8, 4 GiB or more, a symlink out of the venv)",
        errors.EXIT_OUTPUT: "the output cannot be written: its directory is not writable (or read-only), a parent is "
                            "a file, or the output path is a directory (binary or venv; refused before anything is "
                            "written)",
        errors.EXIT_INTERNAL: "internal error (a bug in exxo); `EXXO_DEBUG=1` shows the traceback",
        errors.EXIT_INTERRUPTED: "interrupted (Ctrl-C); nothing half-written is left behind",
    }
    out += [f"| {code} | {text} |" for code, text in codes.items()]
    out.append(MANIFEST)
    return "\n".join(out)


def main() -> int:
    target = ROOT / "docs" / "reference.md"
    text = render()
    if "--check" in sys.argv:
        if target.read_text() != text:
            print("docs/reference.md is out of date: run python tools/gen-reference.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
