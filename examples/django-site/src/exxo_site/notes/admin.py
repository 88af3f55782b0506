from django.contrib import admin

from exxo_site.notes.models import Note

admin.site.register(Note)
