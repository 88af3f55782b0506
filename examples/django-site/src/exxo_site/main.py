"""Entry point: `exxo-site [--data-dir DIR] COMMAND ...` — Django management commands, plus `serve`."""

from __future__ import annotations

import os
import sys


def main() -> int:
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "--data-dir":
        os.environ["EXXO_SITE_DATA"] = os.path.abspath(args[1])
        args = args[2:]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exxo_site.settings")
    os.makedirs(os.environ.get("EXXO_SITE_DATA", os.path.join(os.getcwd(), "site-data")), exist_ok=True)
    if args[:1] == ["serve"]:
        return serve(args[1:])
    from django.core.management import execute_from_command_line

    execute_from_command_line([sys.argv[0], *args])
    return 0


def serve(args: list[str]) -> int:
    from gunicorn.app.base import BaseApplication

    bind = args[0] if args else "127.0.0.1:8000"

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", bind)
            self.cfg.set("workers", 2)
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)

        def load(self) -> object:
            from exxo_site.wsgi import application

            return application

    Server().run()
    return 0
