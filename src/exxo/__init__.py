"""exxo: one portable Linux executable from a Python application."""

__version__ = "0.1.0"
