"""Start-up benchmark app: import Flask, gevent, gunicorn (its embedding API and its gevent worker) and the
flask-gevent example's modules (which creates the Flask app), then exit 0 without serving."""


def main() -> int:
    import flask  # noqa: F401
    import flask_gevent_demo.app
    import flask_gevent_demo.server  # noqa: F401
    import gevent  # noqa: F401
    import gunicorn.app.base  # noqa: F401
    import gunicorn.workers.ggevent  # noqa: F401

    return 0 if flask_gevent_demo.app.app.name == "flask_gevent_demo.app" else 1
