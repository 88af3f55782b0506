"""Entry point: gunicorn embedded in the app, gevent worker class, several pre-forked workers."""

from __future__ import annotations

import argparse
import os

from gunicorn.app.base import BaseApplication


class Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: object, options: dict[str, object]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # control_socket_disable exists from gunicorn 25 on
                self.cfg.set(key, value)

    def load(self) -> object:
        return self.application


def main() -> int:
    parser = argparse.ArgumentParser(description="Flask + gevent + gunicorn, from one exxo binary")
    parser.add_argument("--bind", default=os.environ.get("BIND", "127.0.0.1:8000"))
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    from flask_gevent_demo.app import app

    Server(app, {
        "bind": args.bind,
        "workers": args.workers,
        "worker_class": "gevent",
        "accesslog": "-",
        "control_socket_disable": True,  # gunicorn >= 25 writes a control socket under $HOME by default
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
    }).run()
    return 0
