"""Access tokens: JWTs naming a user and their rights per sheet.

The host application mints them (HS256 with a shared secret, or RS256 with its private key);
the server verifies them. Claims: `sub` (user id), `name` (display name), `sheets` (sheet-name
pattern -> "read" or "write", fnmatch-style), `exp`. Kept in one place so the CLI that mints
and the server that verifies agree on the format.
"""

import fnmatch
import time
from dataclasses import dataclass

import jwt

READ = "read"
WRITE = "write"


class TokenError(ValueError):
    """A token that is missing, malformed, badly signed or expired."""


@dataclass(frozen=True)
class Grant:
    """Who is connected, and what they may do on one sheet."""

    user_id: str
    name: str
    can_write: bool
    expires_at: float | None


def mint(
    key: str,
    user_id: str,
    name: str,
    sheets: dict[str, str],
    ttl_seconds: float,
    algorithm: str = "HS256",
) -> str:
    """A signed token; `key` is the shared secret (HS256) or a PEM private key (RS256)."""
    for pattern, right in sheets.items():
        if right not in (READ, WRITE):
            raise ValueError(f"right for {pattern!r} must be read or write, not {right!r}")
    claims = {"sub": user_id, "name": name, "sheets": sheets, "exp": int(time.time() + ttl_seconds)}
    return jwt.encode(claims, key, algorithm=algorithm)


def verify(token: str | None, key: str, algorithm: str) -> dict:
    """The token's claims; raises TokenError with a one-line reason."""
    if not token:
        raise TokenError("no token")
    try:
        claims = jwt.decode(
            token, key, algorithms=[algorithm], options={"require": ["exp", "sub", "sheets"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token: {exc}") from exc
    if not isinstance(claims.get("sheets"), dict):
        raise TokenError("invalid token: sheets must map patterns to rights")
    return claims


def grant_for(claims: dict, sheet: str) -> Grant | None:
    """The rights the claims give on `sheet` (the strongest matching pattern), or None."""
    rights = {
        right for pattern, right in claims["sheets"].items() if fnmatch.fnmatchcase(sheet, pattern)
    }
    if not rights & {READ, WRITE}:
        return None
    return Grant(
        user_id=str(claims["sub"]),
        name=str(claims.get("name") or claims["sub"]),
        can_write=WRITE in rights,
        expires_at=float(claims["exp"]),
    )
