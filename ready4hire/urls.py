"""The URL map: the admin, the language switch, the one NinjaAPI (api/v1/) and the metrics endpoint."""

from django.contrib import admin
from django.urls import include, path

from .api import api
from .metrics_view import metrics_view

# The admin's left-hand app list takes 300 px that the lists need at 1280-1440 px; the breadcrumbs and the home
# page lead to every app instead.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("admin/", admin.site.urls),
    # The language switch of the admin (POST language=es|en): Django's set_language view.
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api.urls),
    # Prometheus scrapes this (ready4hire/metrics_view.py); METRICS_TOKEN protects it when set.
    path("metrics", metrics_view, name="metrics"),
]
