"""Runs a Django management command for the test app against a database URL:

    python -m djangoapp.manage DATABASE_URL migrate

(from tests/). A process of its own: Django's settings can be configured once per process."""

import sys
from pathlib import Path
from urllib.parse import urlsplit

import django
from django.conf import settings
from django.core.management import call_command


def database(url: str) -> dict[str, str]:
    """Django's DATABASES entry for a Cellsync database URL."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": url.removeprefix("sqlite:///")}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


def main(url: str, *command: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    settings.configure(
        DATABASES={"default": database(url)},
        INSTALLED_APPS=["djangoapp.apps.ShopConfig"],
        USE_TZ=True,
    )
    django.setup()
    call_command(*command)


if __name__ == "__main__":
    main(*sys.argv[1:])
