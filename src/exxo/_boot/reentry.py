"""Re-entry: when the app runs `sys.executable` (the binary), the child must be a Python interpreter.

The rule (docs/design.md): a child is an interpreter exactly when its environment holds EXXO_PYTHON=1. Only
this process's exec paths add it, and only for a child whose program is this binary *and* whose argv[0] is
`sys.executable`: that is what multiprocessing spawn/forkserver, concurrent.futures, `subprocess.run(
[sys.executable, ...])` and `os.execv(sys.executable, [sys.executable, ...])` do, and what running the app by
its own name (`myapp ...`, a shell, another program, `os.execv(sys.executable, ["myapp", ...])`) does not.
The child's launcher removes the variable at once, so it never reaches grandchildren.

Bundled executables (`<binary>/pkg/bin/tool`) run from a memfd (or the native cache): the program path is
swapped for the memfd's /proc path (no file is written).

`_posixsubprocess.fork_exec` is replaced on the module before `subprocess` is imported (subprocess binds
the function at its import); multiprocessing looks it up at each call.
"""

import _posixsubprocess
import os
import sys

from _exxo_boot import EXE

_BEXE = os.fsencode(EXE)
_orig = {}


def _same(value, text, raw):
    return value == text if isinstance(value, str) else value == raw


def _is_self(program, argv):
    """True when the child is this binary run as `sys.executable` (argv[0] too)."""
    if program is None or isinstance(program, int) or not argv:
        return False
    program = os.fspath(program)
    first = os.fspath(argv[0])
    return (_same(program, EXE, _BEXE) or _same(program, sys.executable, os.fsencode(sys.executable))) and (
        _same(first, EXE, _BEXE) or _same(first, sys.executable, os.fsencode(sys.executable)))


def _bundled(program, child=False):
    """A path the kernel can exec for an executable inside the binary, else None. For a child (fork_exec,
    posix_spawn) the memfd is named through this process's /proc entry: the child may close its own copy of
    the fd before exec (close_fds, POSIX_SPAWN_CLOSEFROM), this process keeps it open until exec is done."""
    if program is None or isinstance(program, int):
        return None
    from _exxo_boot import native, zipio

    member = zipio.member_of(program)
    if not member or not zipio.exists(member) or zipio.is_dir(member):
        return None
    path = native.file_path(member)
    fd = native._fds.get(member)
    if child and fd is not None:
        return "/proc/%d/fd/%d" % (os.getpid(), fd)
    return path


def _with_flag(env):
    """An execve-style environment list with EXXO_PYTHON=1 (and no other EXXO_PYTHON)."""
    if env is None:
        env = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in os.environ.items()]
    out = []
    for item in env:
        raw = item if isinstance(item, bytes) else os.fsencode(item)
        if not raw.startswith(b"EXXO_PYTHON="):
            out.append(raw)
    out.append(b"EXXO_PYTHON=1")
    return out


def fork_exec(*args):
    # (args, executable_list, close_fds, pass_fds, cwd, env, ...) in CPython 3.11-3.14
    args = list(args)
    argv, executables = args[0], args[1]
    if executables:
        if _is_self(executables[0], argv):
            args[5] = _with_flag(args[5])
        else:
            swapped = [_bundled(p, child=True) for p in executables]
            if any(swapped):
                args[1] = [os.fsencode(s) if s else p for s, p in zip(swapped, executables, strict=True)]
    return _orig["fork_exec"](*args)


def _env_with_flag(env):
    env = dict(os.environ if env is None else env)
    for key in [k for k in env if k in ("EXXO_PYTHON", b"EXXO_PYTHON")]:
        del env[key]
    env["EXXO_PYTHON"] = "1"
    return env


def execv(path, argv):
    if _is_self(path, argv):
        return _orig["execve"](path, argv, _env_with_flag(None))
    return _orig["execv"](_bundled(path) or path, argv)


def execve(path, argv, env):
    if _is_self(path, argv):
        env = _env_with_flag(env)
    else:
        path = _bundled(path) or path
    return _orig["execve"](path, argv, env)


def _spawner(name):
    def spawn(path, argv, env, *args, **kwargs):
        if _is_self(path, argv):
            env = _env_with_flag(env)
        else:
            path = _bundled(path, child=True) or path
        return _orig[name](path, argv, env, *args, **kwargs)

    spawn.__name__ = name
    return spawn


def install():
    _orig["fork_exec"] = _posixsubprocess.fork_exec
    _posixsubprocess.fork_exec = fork_exec
    for name, func in (("execv", execv), ("execve", execve), ("posix_spawn", _spawner("posix_spawn")),
                       ("posix_spawnp", _spawner("posix_spawnp"))):
        if hasattr(os, name):
            _orig[name] = getattr(os, name)
            setattr(os, name, func)
