"""Who may connect: the token's rights on the sheet, and the page's Origin.

Refusals are close codes y-websocket does not retry: 4401 (no token, bad signature, expired)
and 4403 (a sheet the token does not cover, an origin not on the allow-list). Without a key the
server runs open, which `policy_for` allows only on a loopback address.
"""

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from persistence.settings import ConfigError, Settings
from persistence.tokens import Grant, TokenError, TokenRules, grant_for, verify

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
OPEN_GRANT = Grant(user_id="", name="", can_write=True, expires_at=None)


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class AccessPolicy:
    key: str | None  # HS256 secret or RS256 public key; None: open, loopback only
    algorithm: str
    origins: frozenset[str]  # "*" allows any
    rules: TokenRules

    @property
    def secured(self) -> bool:
        return self.key is not None

    def admit(self, sheet: str, token: str | None, origin: str | None) -> Grant:
        """The connection's rights on the sheet, or Refused with a close code and reason."""
        if origin is not None and "*" not in self.origins and origin not in self.origins:
            raise Refused(CLOSE_FORBIDDEN, f"origin {origin[:80]} is not allowed")
        if self.key is None:
            return OPEN_GRANT
        try:
            claims = verify(token, self.key, self.algorithm, self.rules)
        except TokenError as exc:
            raise Refused(CLOSE_UNAUTHORIZED, str(exc)[:120]) from exc
        grant = grant_for(claims, sheet)
        if grant is None:
            raise Refused(CLOSE_FORBIDDEN, "the token does not cover this sheet")
        return grant


def bearer_token(headers: dict[str, str], query: dict[str, str]) -> str | None:
    """The token from `Authorization: Bearer ...` or the `token` query parameter (which is how
    y-websocket's `params` carry it)."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return query.get("token")


def policy_for(settings: Settings) -> AccessPolicy:
    """The access policy the settings ask for; refuses to run open on a public address."""
    origins = {o.strip() for o in settings.allowed_origins.split(",") if o.strip()}
    origins |= _own_origins(settings.host, settings.port)
    if settings.public_key:
        pem = settings.public_key
        key = Path(pem).read_text() if not pem.lstrip().startswith("-----") else pem
        return AccessPolicy(key, "RS256", frozenset(origins), settings.token_rules)
    if settings.secret:
        return AccessPolicy(settings.secret, "HS256", frozenset(origins), settings.token_rules)
    if not _is_loopback(settings.host):
        raise ConfigError(
            f"refusing to serve on {settings.host} without a secret: set CELLSYNC_SECRET "
            "(for example: export CELLSYNC_SECRET=$(python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'))"
        )
    return AccessPolicy(None, "HS256", frozenset(origins), settings.token_rules)


def _own_origins(host: str, port: int) -> set[str]:
    names = {host, "localhost", "127.0.0.1", "[::1]"} if _is_loopback(host) else {host}
    return {f"{scheme}://{name}:{port}" for name in names for scheme in ("http", "https")}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
