from django.contrib import admin
from django.contrib.staticfiles.views import serve
from django.urls import path, re_path

from exxo_site.notes.views import index

urlpatterns = [
    path("", index),
    path("admin/", admin.site.urls),
    # Static files served by the app itself (one binary, no separate web server): finders read them
    # from the packages inside the binary.
    re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True}),
]
