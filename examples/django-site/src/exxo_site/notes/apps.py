from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "exxo_site.notes"
    default_auto_field = "django.db.models.BigAutoField"
