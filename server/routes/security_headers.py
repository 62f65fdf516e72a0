"""Headers that keep what the server sends from being turned against its users.

Every HTTP response gets them: a Content-Security-Policy that lets the pages run only the
server's own scripts and styles and talk only to the server itself (so nothing a client sends
can load or leak anything elsewhere), `nosniff`, no referrer, and the `frame-ancestors` the
operator allows (none by default). API responses carry rows: never stored by a cache.
"""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors {frame_ancestors}"
)
NOT_STORED = ("/api/",)


class SecurityHeaders:
    """Pure ASGI middleware: WebSockets pass through untouched."""

    def __init__(self, app: ASGIApp, frame_ancestors: str) -> None:
        self.app = app
        self.headers = {
            "Content-Security-Policy": POLICY.format(frame_ancestors=frame_ancestors),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cross-Origin-Opener-Policy": "same-origin",
        }
        if frame_ancestors.strip() == "'none'":
            self.headers["X-Frame-Options"] = "DENY"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        not_stored = scope["path"].startswith(NOT_STORED)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
                if not_stored:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
