"""Re-entry: when the app runs `sys.executable` (the binary), the child must be a Python interpreter.

The rule (docs/how-it-works.md): a child is an interpreter exactly when its environment holds EXXO_PYTHON=1.
Only this process's exec paths add it, and only for a child whose program is this binary run through
`sys.executable` (multiprocessing spawn/forkserver, concurrent.futures, `subprocess.run([sys.executable,
...])`, `os.execv(sys.executable, ...)`). The child's launcher removes the variable at once, so it never
reaches grandchildren, and the app run by its own name (`sys.argv[0]`, a shell, another program) is the app.

Bundled executables (`<binary>/pkg/bin/tool`) are run from a memfd: the program path is swapped for its
/proc/self/fd path.
"""

import _posixsubprocess
import os
import sys

from _exxo_boot import EXE

_ENV_ITEM = b"EXXO_PYTHON=1"
_orig = {}


def _is_self(program):
    if program is None:
        return False
    if isinstance(program, (bytes, bytearray)):
        program = os.fsdecode(program)
    program = os.fspath(program)
    return program == EXE or program == sys.executable


def _bundled(program):
    """/proc/self/fd path for an executable inside the binary, else None."""
    from _exxo_boot import native, zipio

    member = zipio.member_of(program)
    if member is None or not zipio.exists(member) or zipio.is_dir(member):
        return None
    return native.file_path(member)


def _with_flag(env):
    if env is None:
        env = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in os.environ.items()]
    return [e for e in env if not e.startswith(b"EXXO_PYTHON=")] + [_ENV_ITEM]


def fork_exec(*args):
    args = list(args)
    # (args, executable_list, close_fds, pass_fds, cwd, env, ...) in CPython 3.11-3.14
    executables = args[1]
    if executables and _is_self(executables[0]):
        args[5] = _with_flag(args[5])
    elif executables:
        swapped = [_bundled(p) for p in executables]
        if any(swapped):
            args[1] = [os.fsencode(s) if s else p for s, p in zip(swapped, executables, strict=True)]
    return _orig["fork_exec"](*args)


def _env_with_flag(env):
    env = dict(os.environ if env is None else env)
    env["EXXO_PYTHON"] = "1"
    return env


def execv(path, argv):
    if _is_self(path):
        return _orig["execve"](path, argv, _env_with_flag(None))
    return _orig["execv"](_bundled(path) or path, argv)


def execve(path, argv, env):
    if _is_self(path):
        env = _env_with_flag(env)
    elif not isinstance(path, int):
        path = _bundled(path) or path
    return _orig["execve"](path, argv, env)


def posix_spawn(path, argv, env, **kwargs):
    if _is_self(path):
        env = _env_with_flag(env)
    else:
        path = _bundled(path) or path
    return _orig["posix_spawn"](path, argv, env, **kwargs)


def install():
    _orig["fork_exec"] = _posixsubprocess.fork_exec
    _posixsubprocess.fork_exec = fork_exec
    for name, func in (("execv", execv), ("execve", execve), ("posix_spawn", posix_spawn)):
        if hasattr(os, name):
            _orig[name] = getattr(os, name)
            setattr(os, name, func)
