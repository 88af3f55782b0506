from django.shortcuts import render

from exxo_site.notes.models import Note


def index(request):  # type: ignore[no-untyped-def]
    return render(request, "notes/index.html", {"notes": Note.objects.order_by("-created")[:20]})
