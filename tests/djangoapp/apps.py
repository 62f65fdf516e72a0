"""A tiny Django app whose tables Django's own migrations create, for serving them in tests."""

from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "djangoapp"
    default_auto_field = "django.db.models.BigAutoField"
