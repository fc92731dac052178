"""Security headers and origin rules of the web process.

The dashboard's pages get a strict Content Security Policy (scripts and styles only from its
own static files, never framed); the webhook relay's answers are sandboxed so that whatever a
handler returns runs in an opaque origin that can neither read nor drive the dashboard. When a
separate public origin for webhooks is configured, the dashboard refuses to be served there.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, request

DASHBOARD_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                 "object-src 'none'; base-uri 'none'; form-action 'self'; "
                 "frame-ancestors 'none'")
# The code editor builds its styles at run time and may only add them with this response's
# nonce; scripts stay 'self' only. Pages without an editor keep the policy above.
STYLE_NONCE_CSP = DASHBOARD_CSP.replace("style-src 'self'", "style-src 'self' 'nonce-{nonce}'")
# No allow-scripts and no allow-same-origin: a handler's page never runs script, and runs in an
# opaque origin whatever it contains. default-src 'none' also stops loading anything else.
WEBHOOK_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"
# A trigger that opts into HTML pages may load images and styles and submit forms; still no
# script and an opaque origin.
WEBHOOK_HTML_CSP = "sandbox allow-forms; frame-ancestors 'none'"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Paths served on the webhook origin too: the relay itself and the unauthenticated probes.
PUBLIC_PREFIXES = ("/webhooks/", "/health", "/metrics")


def host_of(url: str) -> str:
    """The ``host[:port]`` of ``url``, lower-cased ("" when there is none)."""
    return urlsplit(url).netloc.lower()


def webhook_headers(response: Response, html_pages: bool) -> Response:
    """Make a handler's answer harmless in a browser."""
    response.headers["Content-Security-Policy"] = WEBHOOK_HTML_CSP if html_pages else WEBHOOK_CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = response.headers.get("Cache-Control", "no-store")
    for key, value in COMMON.items():
        response.headers[key] = value
    return response


def style_nonce() -> str:
    """A nonce for the styles the code editor adds, valid for this response only."""
    if "syncstudio_style_nonce" not in g:
        g.syncstudio_style_nonce = secrets.token_urlsafe(18)
    nonce: str = g.syncstudio_style_nonce
    return nonce


def init_app(app: Flask) -> None:
    """Refuse the dashboard under the webhook origin; headers on every response."""
    webhook_host = host_of(app.config["SETTINGS"].webhook_base_url)
    dashboard_host = host_of(app.config["SETTINGS"].base_url)
    separate = bool(webhook_host) and webhook_host != dashboard_host

    app.jinja_env.globals["style_nonce"] = style_nonce

    @app.before_request
    def _refuse_dashboard_on_webhook_origin() -> Any:
        if separate and request.host.lower() == webhook_host \
                and not request.path.startswith(PUBLIC_PREFIXES):
            abort(404)
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        if request.blueprint == "webhooks":
            # The relay sets its own (sandboxing) policy; errors before it get the strict one.
            if "Content-Security-Policy" not in response.headers:
                webhook_headers(response, html_pages=False)
            return response
        nonce = g.get("syncstudio_style_nonce")
        response.headers.setdefault("Content-Security-Policy", STYLE_NONCE_CSP.format(
            nonce=nonce) if nonce else DASHBOARD_CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        for key, value in COMMON.items():
            response.headers.setdefault(key, value)
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
