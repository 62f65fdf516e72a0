"""Settings, from (lowest to highest precedence) defaults, `cellsync.toml`, environment variables
named `CELLSYNC_<SETTING>`, and command-line options.

They live here, not in `server`, because the CLI's sheet commands read the same database URL,
sheets and server address as `serve` without importing the server."""

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from persistence.database import DEFAULT_URL
from persistence.tokens import DEFAULT_MAX_LIFETIME, TokenRules

CONFIG_FILE = Path("cellsync.toml")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_URL
    sheets: dict[str, str] = field(default_factory=dict)  # sheet name -> table name
    host: str = "127.0.0.1"
    port: int = 8000
    merge_window: float = 0.05  # seconds: the longest an update waits to share a frame
    log_interval: float = 0.1  # seconds between batched writes to the update log
    compact_after: int = 200  # log rows per sheet before they are merged into one
    idle_seconds: float = 30.0  # an empty room stays loaded this long
    flush_debounce: float = 0.1  # seconds after the last edit before the table is written
    flush_max_delay: float = 0.3  # under a stream of edits, the table is written this often
    watch_poll_seconds: float = 0.25  # SQLite: how often the `cellsync watch` changes are read
    table_poll_seconds: float = 5.0  # tables without `cellsync watch`: compared this often
    secret: str = ""  # HS256 key for access tokens; empty: open, on loopback only
    public_key: str = ""  # RS256 public key (PEM text or a file path), instead of a secret
    token: str = ""  # the CLI's access token, for a server that checks tokens it cannot sign
    allowed_origins: str = ""  # extra page origins, comma-separated ("*": any); own is allowed
    token_issuer: str = ""  # when set, a token's `iss` must be this
    token_audience: str = ""  # when set, a token's `aud` must name this
    max_token_lifetime: float = DEFAULT_MAX_LIFETIME  # seconds from now a token's exp may be
    frame_ancestors: str = "'none'"  # CSP sources of pages that may embed ours in a frame
    max_backlog: int = 8 * 1024 * 1024  # bytes a client may fall behind before it is dropped
    max_message: int = 32 * 1024 * 1024  # largest WebSocket message accepted
    max_connections: int = 2000  # in total
    max_sheet_connections: int = 1000  # on one sheet
    max_messages_per_second: float = 500.0  # per connection, sustained (bursts of twice that)
    max_held_bytes: int = 256 * 1024 * 1024  # edits held in memory while the log is unwritable
    ping_interval: float = 20.0  # seconds between pings; a client that does not answer
    ping_timeout: float = 20.0  # within this many seconds is disconnected
    redis_url: str = ""  # set: several processes share every sheet through this Redis
    stream_trim_seconds: float = 3.0  # with Redis: how often a sheet's writer trims its stream
    stream_keep_seconds: float = 60.0  # logged stream entries stay this long, for slow readers

    @property
    def token_rules(self) -> TokenRules:
        return TokenRules(self.token_issuer, self.token_audience, self.max_token_lifetime)

    def with_overrides(self, values: dict[str, Any]) -> "Settings":
        """A copy with every value that is not None replaced, after type conversion."""
        types = {f.name: f.type for f in fields(self)}
        unknown = set(values) - set(types)
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        changes = {k: _convert(k, v, types[k]) for k, v in values.items() if v is not None}
        return replace(self, **changes)


def parse_sheets(specs: str | list[str] | dict[str, str]) -> dict[str, str]:
    """Reads `NAME=TABLE` pairs (a list, or one comma-separated string); a bare NAME maps to
    the table of the same name."""
    if isinstance(specs, dict):
        return {str(k): str(v) for k, v in specs.items()}
    items = specs.split(",") if isinstance(specs, str) else specs
    sheets = {}
    for item in (i.strip() for i in items):
        if not item:
            continue
        name, _, table = item.partition("=")
        if not name.strip():
            raise ConfigError(f"bad sheet {item!r}: expected NAME=TABLE")
        sheets[name.strip()] = (table or name).strip()
    return sheets


def _convert(name: str, value: Any, kind: Any) -> Any:
    if name == "sheets":
        return parse_sheets(value)
    try:
        return kind(value) if kind in (int, float, str) else value
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name}: {value!r} is not a valid {kind.__name__}") from exc


def load_settings(cli: dict[str, Any], config_file: Path = CONFIG_FILE) -> Settings:
    settings = Settings()
    if config_file.exists():
        try:
            settings = settings.with_overrides(tomllib.loads(config_file.read_text()))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_file}: {exc}") from exc
    env = {f.name: os.environ.get(f"CELLSYNC_{f.name.upper()}") for f in fields(Settings)}
    return settings.with_overrides(env).with_overrides(cli)
