"""Probe: the facts of an interpreter that only it can tell, as one JSON object on stdout.

`site` (its purelib, where pip installs), `env` (the PEP 508 marker environment), `tag`
(sys.implementation.cache_tag, which names its pycs) and `version`. What is installed in site-packages is
read from the files by the caller (exxo.metadata): it changes during a build, these facts do not.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import sysconfig


def marker_env() -> dict[str, str]:
    """PEP 508's marker variables for this interpreter (what packaging.markers.default_environment gives)."""
    impl = sys.implementation
    return {
        "implementation_name": impl.name,
        "implementation_version": ".".join(map(str, impl.version[:3])),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(map(str, sys.version_info[:2])),
        "sys_platform": sys.platform,
    }


def facts() -> dict[str, object]:
    return {"site": sysconfig.get_paths()["purelib"], "env": marker_env(), "tag": sys.implementation.cache_tag,
            "version": platform.python_version()}


if __name__ == "__main__":
    print(json.dumps(facts()))
