"""A Django project shipped as one exxo binary. Data (the sqlite db) lives under --data-dir / EXXO_SITE_DATA."""
