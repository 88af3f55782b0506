import os
import sys

from flask import Flask, render_template, request

HERE = os.path.dirname(os.path.abspath(__file__))

# Paths built from __file__ the usual way: inside an exxo binary they point into the binary itself.
app = Flask(__name__, template_folder=os.path.join(HERE, "templates"), static_folder=os.path.join(HERE, "static"))


@app.route("/")
def index() -> str:
    with open(os.path.join(HERE, "static", "style.css")) as f:  # zip-unsafe on purpose: open() a bundled file
        css_bytes = len(f.read())
    return render_template(
        "index.html",
        ip=request.headers.get("X-Forwarded-For", request.remote_addr),
        python=sys.version.split()[0],
        pid=os.getpid(),
        css_bytes=css_bytes,
    )
