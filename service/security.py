"""Security headers on every response, and the API docs served without a CDN.

The pages load only their own scripts and styles (Vite emits files, no inline code), talk to
the API and the boards on their own origin, and draw tiles from the configured tile server
alone. /docs runs Swagger UI from copies in the built pages (`frontend/dist/swagger-ui/`,
copied from npm's swagger-ui-dist by vite.config.ts); its one inline script is allowed by
its hash, computed from the page as served.
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_URL = "/docs"
SWAGGER_ASSETS = "/swagger-ui"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # The pages have action buttons (sign, close, dispatch): never inside another site's frame.
    "X-Frame-Options": "DENY",
    # The origin only, never a path, to other sites; tile servers may ask for a Referer.
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def tile_source(tile_url: str) -> str | None:
    """Return the CSP source of a tile URL template: its origin, `{s}` as a subdomain wildcard.

    A relative template (tiles served by this origin) needs nothing beyond 'self'.
    """
    if not tile_url or tile_url.startswith("/"):
        return None
    parts = urlsplit(tile_url.replace("{s}", "__s__"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = parts.netloc
    if host.startswith("__s__."):
        host = "*." + host.removeprefix("__s__.")
    elif "__s__" in host:
        return f"{parts.scheme}:"  # a placeholder inside a label: no narrower source exists
    return f"{parts.scheme}://{host}"


def pages_policy(tile_url: str) -> str:
    """Return the Content-Security-Policy of the pages and the API."""
    # blob: the photos, which the pages fetch with the Bearer header and show as object URLs.
    images = " ".join(filter(None, ["'self'", "data:", "blob:", tile_source(tile_url)]))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {images}; connect-src 'self'; font-src 'self'; worker-src 'self'; "
        "object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def docs_policy(html: str) -> str:
    """Return the policy of /docs: the pages' own, plus the hash of its inline script."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


class SecurityHeaders:
    """ASGI middleware: the base headers and a Content-Security-Policy on every HTTP response."""

    def __init__(self, app: ASGIApp, pages_csp: str, docs_csp: str) -> None:
        self.app = app
        self.pages_csp = pages_csp
        self.docs_csp = docs_csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = self.docs_csp if scope.get("path") == DOCS_URL else self.pages_csp

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in BASE_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", csp)
            await send(message)

        await self.app(scope, receive, with_headers)


def docs_html(app: FastAPI) -> str:
    """Render the Swagger UI page pointing at the local assets (no validator, no CDN)."""
    body = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} — 接口文档",
        swagger_js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER_ASSETS}/favicon-32x32.png",
        oauth2_redirect_url=None,
        swagger_ui_parameters={"validatorUrl": None},
    ).body
    return bytes(body).decode()


def install_security(app: FastAPI, tile_url: str) -> None:
    """Serve /docs from local assets and add the security headers to every response."""
    html = docs_html(app)

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(html)

    app.add_middleware(
        SecurityHeaders, pages_csp=pages_policy(tile_url), docs_csp=docs_policy(html)
    )
