"""Runs an exxo binary's boot code with the *host* CPython, as the C launcher would (docs/design.md).

For unit tests of the boot code without the runtime: `python -I -S tests/boot_harness.py BINARY args...`
(the binary's ELF part is irrelevant here; only its zip is used). Bytecode must match the host Python.
"""

import marshal
import sys
import types

exe = sys.argv[1]
data = open(exe, 'rb').read()
c = data[-74:]
nums = [int(c[7 + 17 * i:23 + 17 * i], 16) for i in range(4)]
mod = types.ModuleType("_exxo_boot")
mod.__file__ = exe + "/__exxo__/boot.pyc"
sys.modules["_exxo_boot"] = mod
exec(marshal.loads(data[nums[0]:nums[0]+nums[1]]), mod.__dict__)
sys.path.append(exe)
mod._start(exe, nums[2], nums[3], True)
sys.argv = [exe] + sys.argv[2:]
mod.run_app()
