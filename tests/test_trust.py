"""Who may read and write: tokens, rights, origins and the start-up rules, on a real server."""

import asyncio
import time

import httpx
import jwt
import pytest
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from nodeclient import NodeClient
from test_cli import cellsync
from waiting import eventually

from client.sheet import SheetClosed, open_sheet
from persistence.tokens import TokenError, TokenRules, mint, verify

SECRET = "test-secret-that-is-long-enough-for-hs256"


def token(
    sheets: dict[str, str],
    ttl: float = 600,
    key: str = SECRET,
    user: str = "u1",
    name: str = "Ann",
    algorithm: str = "HS256",
) -> str:
    return mint(key, user, name, sheets, ttl, algorithm)


@pytest.fixture
async def secured(server_factory):
    return await server_factory(CELLSYNC_SECRET=SECRET)


async def close_code(server, sheet: str = "items", **connect) -> int | None:
    """The close code a raw client gets (None if the server keeps it open)."""
    url = f"{server.url}/ws/sheet/{sheet}"
    async with websockets.connect(url, **connect) as ws:
        try:
            await asyncio.wait_for(ws.recv(), 5)
            await asyncio.wait_for(ws.wait_closed(), 2)
        except (TimeoutError, websockets.ConnectionClosed):
            pass
        return ws.close_code


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("none", 4401),
        ("bad signature", 4401),
        ("expired", 4401),
        ("garbage", 4401),
        ("other sheet", 4403),
    ],
)
async def test_a_bad_token_is_refused_with_its_code(secured, case, expected):
    tokens = {
        "none": None,
        "bad signature": token({"*": "write"}, key="another-secret-another-secret-1234"),
        "expired": token({"*": "write"}, ttl=-10),
        "garbage": "not.a.jwt",
        "other sheet": token({"orders*": "write"}),
    }
    params = {"token": tokens[case]} if tokens[case] else {}
    async with await NodeClient.start(f"{secured.url}/ws/sheet", "items", params) as node:
        event = await node.wait_event(lambda e: e.get("event") == "closed", timeout=10)
    assert event["code"] == expected


async def test_a_writer_edits_and_a_reader_sees_but_cannot_write(secured):
    writer_token = token({"it*": "write"}, user="w", name="Wanda")
    reader_token = token({"items": "read"}, user="r", name="Rick")
    async with (
        open_sheet(secured.url, "items", token=writer_token) as writer,
        open_sheet(secured.url, "items", token=reader_token) as reader,
    ):
        writer.set("1", "name", "by the writer")
        await reader.wait_for(lambda s: s.row("1")["name"] == "by the writer")
        reader.set("2", "name", "by the reader")
        writer.set("3", "name", "marker")
        await reader.wait_for(lambda s: s.row("3")["name"] == "marker")
    async with open_sheet(secured.url, "items", token=writer_token) as fresh:
        assert fresh.row("2")["name"] == "item 2"
        assert fresh.row("1")["name"] == "by the writer"
    assert secured.log().count("is read-only: dropping its document changes") == 1


async def test_a_connection_closes_when_its_token_expires(secured):
    short = token({"items": "write"}, ttl=2)
    with pytest.raises(SheetClosed) as closed:
        async with open_sheet(secured.url, "items", token=short) as sheet:
            await sheet.wait_for(lambda s: False, timeout=10)
    assert closed.value.code == 4401


async def test_presence_carries_the_token_identity_not_the_claimed_one(secured):
    url = f"{secured.url}/ws/sheet"
    ann_token = token({"*": "write"}, user="u1")
    ann = await NodeClient.start(url, "items", {"token": ann_token})
    bob = await NodeClient.start(
        url, "items", {"token": token({"*": "read"}, user="u2", name="Bob")}
    )
    try:
        await asyncio.gather(ann.wait_synced(), bob.wait_synced())
        claimed = {"id": "admin", "name": "Mallory", "colour": "#ff0000", "color": "red"}
        await ann.set_awareness({"user": claimed, "extra": "dropped"})

        async def ann_seen() -> bool:
            states = (await bob.awareness()).values()
            return {"user": {"id": "u1", "name": "Ann", "colour": "#ff0000"}} in states

        await eventually(ann_seen, timeout=5, what="Ann's presence under her token's name")
    finally:
        await asyncio.gather(ann.close(), bob.close())
    assert "token=[hidden]" in secured.log() and ann_token not in secured.log()


async def api_has(server, bearer: str, text: str) -> bool:
    async with httpx.AsyncClient() as client:
        headers = {"Authorization": f"Bearer {bearer}"}
        response = await client.get(f"{server.http}/api/sheets/items.csv", headers=headers)
        return text in response.text


async def test_the_origin_must_be_allowed(secured):
    good = token({"*": "write"})
    evil = {
        "origin": "http://evil.example",
        "additional_headers": {"Authorization": f"Bearer {good}"},
    }
    assert await close_code(secured, **evil) == 4403
    own = {"origin": f"http://127.0.0.1:{secured.port}"}
    async with open_sheet(secured.url, "items", token=good):
        pass  # no Origin header: not a browser
    async with websockets.connect(f"{secured.url}/ws/sheet/items?token={good}", **own) as ws:
        assert (await asyncio.wait_for(ws.recv(), 5))[0] == 0  # the sync handshake


async def test_rs256_tokens_with_a_public_key(server_factory, database_url, tmp_path):
    """The server checks tokens it cannot sign; the CLI is given one (CELLSYNC_TOKEN)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_path = tmp_path / "public.pem"
    public_path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    server = await server_factory(CELLSYNC_PUBLIC_KEY=str(public_path))
    signed = token({"items": "write"}, key=private_pem, algorithm="RS256")
    async with open_sheet(server.url, "items", token=signed) as sheet:
        assert len(sheet.rows()) == 10
        sheet.set("1", "name", "seen by the CLI")
        await eventually(lambda: api_has(server, signed, "seen by the CLI"))

    def export(**env: str):
        args = ("export", "items", "--server", server.url, "--database-url", database_url)
        return cellsync(*args, env={"PATH": "/usr/bin:/bin", **env})

    refused = await asyncio.to_thread(export)
    assert refused.returncode == 1 and "4401" in refused.stderr
    exported = await asyncio.to_thread(export, CELLSYNC_TOKEN=signed)  # the CLI's own token
    assert exported.returncode == 0, exported.stderr
    assert "seen by the CLI" in exported.stdout
    assert (
        await close_code(
            server, additional_headers={"Authorization": f"Bearer {token({'*': 'write'})}"}
        )
        == 4401
    )


def test_a_public_address_without_a_secret_is_refused(sqlite_url):
    result = cellsync("serve", "--host", "0.0.0.0", "--database-url", sqlite_url, "--sheet", "s=t")
    assert result.returncode == 1
    assert "CELLSYNC_SECRET" in result.stderr and result.stderr.strip().count("\n") == 0


async def test_loopback_without_a_secret_runs_open_and_says_so(server):
    assert "running open" in server.log()


async def test_the_token_command_mints_what_the_server_accepts(secured):
    result = cellsync(
        "token", "--user", "7", "--name", "Grace", "--sheet", "it*", "--write", "--ttl", "1h",
        env={"CELLSYNC_SECRET": SECRET, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    minted = result.stdout.strip()
    async with open_sheet(secured.url, "items", token=minted) as sheet:
        sheet.set("5", "name", "by grace")
        await sheet.wait_for(lambda s: s.row("5")["name"] == "by grace")


def test_the_token_command_needs_a_secret():
    result = cellsync("token", "--user", "7", "--sheet", "*", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1 and "CELLSYNC_SECRET" in result.stderr


async def test_the_http_api_follows_the_same_rules(secured):
    reader = {"Authorization": f"Bearer {token({'items': 'read'})}"}
    other = {"Authorization": f"Bearer {token({'orders': 'write'})}"}
    expired = {"Authorization": f"Bearer {token({'*': 'write'}, ttl=-5)}"}
    async with httpx.AsyncClient(base_url=secured.http) as http:
        assert (await http.get("/api/sheets/items")).status_code == 401
        assert (await http.get("/api/sheets/items", headers=expired)).status_code == 401
        assert (await http.get("/api/sheets/items.csv", headers=other)).status_code == 403
        assert (await http.get("/api/sheets/items/status", headers=other)).status_code == 403
        rows = (await http.get("/api/sheets/items", headers=reader)).json()["rows"]
        assert len(rows) == 10
        listed = (await http.get("/api/sheets", headers=reader)).json()["sheets"]
        assert [s["name"] for s in listed] == ["items"]
        assert (await http.get("/api/sheets")).status_code == 401
        assert (await http.get("/healthz")).status_code == 200
        writer = {"Authorization": f"Bearer {token({'items': 'write'})}"}
        async with open_sheet(secured.url, "items", token=token({"items": "write"})):
            flush = "/api/sheets/items/flush"
            assert (await http.post(flush, headers=reader)).status_code == 403
            assert (await http.post(flush, headers=writer)).status_code == 200


DAY = 24 * 3600


class In(float):
    """An `exp` this many seconds after the token is made."""


class InText(In):
    """The same, written as a string of digits."""


def signed(**claims) -> str:
    """A token with exactly these claims besides `sub` and `sheets`."""
    if isinstance(claims.get("exp"), In):
        exp = time.time() + claims["exp"]
        claims["exp"] = str(int(exp)) if isinstance(claims["exp"], InText) else exp
    return jwt.encode({"sub": "u1", "sheets": {"*": "write"}, **claims}, SECRET, "HS256")


RULES = TokenRules(issuer="https://app.example", audience="cellsync", max_lifetime=30 * DAY)


@pytest.mark.parametrize(
    ("claims", "rules", "refused"),
    [
        ({"exp": In(60)}, TokenRules(), None),
        ({"exp": InText(60)}, TokenRules(), "exp must be a number"),
        ({"exp": 10**20}, TokenRules(), "max_token_lifetime"),
        ({"exp": In(31 * DAY)}, TokenRules(), "max_token_lifetime"),
        ({"exp": In(29 * DAY)}, TokenRules(), None),
        ({"exp": In(2 * DAY)}, TokenRules(max_lifetime=DAY), "max_token_lifetime"),
        ({"exp": True}, TokenRules(), "exp"),
        ({"exp": In(60), "iss": "https://app.example", "aud": "cellsync"}, RULES, None),
        ({"exp": In(60), "aud": "cellsync"}, RULES, "iss"),
        ({"exp": In(60), "iss": "https://evil", "aud": "cellsync"}, RULES, "(?i)issuer"),
        ({"exp": In(60), "iss": "https://app.example"}, RULES, "aud"),
        (
            {"exp": In(60), "iss": "https://app.example", "aud": "other"},
            RULES,
            "(?i)audience",
        ),
        ({"exp": In(60), "aud": "cellsync"}, TokenRules(), "(?i)audience"),
    ],
)
def test_the_token_rules(claims, rules, refused):
    if refused is None:
        assert verify(signed(**claims), SECRET, "HS256", rules)["sub"] == "u1"
        return
    with pytest.raises(TokenError, match=refused):
        verify(signed(**claims), SECRET, "HS256", rules)


async def test_issuer_and_audience_settings_reach_the_server_and_the_cli(server_factory):
    settings = {
        "CELLSYNC_SECRET": SECRET,
        "CELLSYNC_TOKEN_ISSUER": "https://app.example",
        "CELLSYNC_TOKEN_AUDIENCE": "cellsync",
    }
    server = await server_factory(**settings)
    right = signed(exp=In(60), iss="https://app.example", aud="cellsync")
    async with open_sheet(server.url, "items", token=right) as sheet:
        assert len(sheet.rows()) == 10
    no_issuer = signed(exp=In(60), aud="cellsync")
    assert await close_code(server, additional_headers={"Authorization": f"Bearer {no_issuer}"})
    huge = signed(exp=10**20, iss="https://app.example", aud="cellsync")
    assert await close_code(server, additional_headers={"Authorization": f"Bearer {huge}"}) == 4401
    env = {**settings, "PATH": "/usr/bin:/bin"}
    minted = cellsync("token", "--user", "7", "--sheet", "*", "--write", env=env)
    assert minted.returncode == 0, minted.stderr
    async with open_sheet(server.url, "items", token=minted.stdout.strip()) as sheet:
        assert len(sheet.rows()) == 10
    too_long = cellsync("token", "--user", "7", "--sheet", "*", "--ttl", "31d", env=env)
    assert too_long.returncode == 1 and "max_token_lifetime" in too_long.stderr
