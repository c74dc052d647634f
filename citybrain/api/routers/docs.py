"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), drawn from
copies served by this server (``static/vendor``, ``scripts/vendor.sh``): a county's offline
network reaches no CDN, and the pages fetch nothing but this server's files and
``/openapi.json``. FastAPI's pages carry inline code; it runs by a nonce of each answer that the
answer's Content-Security-Policy names (``api.headers``)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

from citybrain.api.deps import SettingsDep
from citybrain.api.headers import csp
from citybrain.settings import Settings

router = APIRouter(include_in_schema=False)

VENDOR = "/static/vendor"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
FAVICON = f"{VENDOR}/swagger-ui/favicon-32x32.png"


def _page(made: HTMLResponse, settings: Settings, inline_styles: bool = False) -> HTMLResponse:
    """FastAPI's page with a fresh nonce on its inline elements, and the policy naming it."""
    nonce = secrets.token_urlsafe(16)
    html = bytes(made.body).decode()
    html = html.replace("<script>", f'<script nonce="{nonce}">')
    html = html.replace("<style>", f'<style nonce="{nonce}">')
    policy = csp(settings, nonce, inline_styles=inline_styles)
    return HTMLResponse(
        html, headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"}
    )


@router.get("/docs")
async def swagger_ui(request: Request, settings: SettingsDep) -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} · Swagger UI",
        swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=FAVICON,
        oauth2_redirect_url=OAUTH2_REDIRECT,
        # (Swagger UI would otherwise show a badge from validator.swagger.io on a public host)
        swagger_ui_parameters={"validatorUrl": None},
    )
    return _page(page, settings)


@router.get(OAUTH2_REDIRECT)
async def swagger_ui_redirect(settings: SettingsDep) -> HTMLResponse:
    return _page(get_swagger_ui_oauth2_redirect_html(), settings)


@router.get("/redoc")
async def redoc(request: Request, settings: SettingsDep) -> HTMLResponse:
    page = get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} · ReDoc",
        redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=FAVICON,
        with_google_fonts=False,
    )
    # ReDoc (styled-components) writes its styles into <style> elements as it runs, some
    # while its script loads, before any option could hand them a nonce (and a browser hides
    # an element's nonce attribute from scripts): inline styles are allowed on this page,
    # which shows the API definition only. Its scripts still need the nonce.
    return _page(page, settings, inline_styles=True)
