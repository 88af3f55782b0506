"""A small Flask app that shows the client's IP, served by gunicorn + gevent from one exxo binary."""
