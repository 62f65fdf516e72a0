"""The server's settings: the CLI's sheet commands share them, so `persistence.settings` holds
them."""

from persistence.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
