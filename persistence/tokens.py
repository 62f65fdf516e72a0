"""Access tokens: JWTs naming a user and their rights per sheet.

The host application mints them (HS256 with a shared secret, or RS256 with its private key);
the server verifies them. Claims: `sub` (user id), `name` (display name), `sheets` (sheet-name
pattern -> "read" or "write", fnmatch-style), `exp`, and `iss` and `aud` where the server is
told to expect them. Kept in one place so the CLI that mints and the server that verifies agree
on the format.
"""

import fnmatch
import math
import time
from dataclasses import dataclass

import jwt

READ = "read"
WRITE = "write"
DEFAULT_MAX_LIFETIME = 30 * 24 * 3600.0  # seconds
LEEWAY = 60.0  # seconds of clock skew between the minting host and this one


class TokenError(ValueError):
    """A token that is missing, malformed, badly signed or expired."""


@dataclass(frozen=True)
class Grant:
    """Who is connected, and what they may do on one sheet."""

    user_id: str
    name: str
    can_write: bool
    expires_at: float | None


@dataclass(frozen=True)
class TokenRules:
    """What a token must satisfy besides its signature: the issuer and audience, when set, and
    an expiry that is a number no further away than `max_lifetime` seconds."""

    issuer: str = ""
    audience: str = ""
    max_lifetime: float = DEFAULT_MAX_LIFETIME


def mint(
    key: str,
    user_id: str,
    name: str,
    sheets: dict[str, str],
    ttl_seconds: float,
    algorithm: str = "HS256",
    rules: TokenRules = TokenRules(),
) -> str:
    """A signed token; `key` is the shared secret (HS256) or a PEM private key (RS256)."""
    for pattern, right in sheets.items():
        if right not in (READ, WRITE):
            raise ValueError(f"right for {pattern!r} must be read or write, not {right!r}")
    if ttl_seconds > rules.max_lifetime:
        raise ValueError(
            f"a token may live at most {rules.max_lifetime:g} seconds (max_token_lifetime)"
        )
    claims = {"sub": user_id, "name": name, "sheets": sheets, "exp": int(time.time() + ttl_seconds)}
    if rules.issuer:
        claims["iss"] = rules.issuer
    if rules.audience:
        claims["aud"] = rules.audience
    return jwt.encode(claims, key, algorithm=algorithm)


def verify(token: str | None, key: str, algorithm: str, rules: TokenRules = TokenRules()) -> dict:
    """The token's claims; raises TokenError with a one-line reason."""
    if not token:
        raise TokenError("no token")
    required = ["exp", "sub", "sheets"] + (["iss"] if rules.issuer else [])
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            issuer=rules.issuer or None,
            audience=rules.audience or None,
            options={"require": required},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token: {exc}") from exc
    exp = claims["exp"]
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        raise TokenError("invalid token: exp must be a number")
    if exp > time.time() + rules.max_lifetime + LEEWAY:
        raise TokenError("invalid token: it expires later than max_token_lifetime allows")
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
