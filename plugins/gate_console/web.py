"""The console's web server: aiohttp on the site's event loop, pages from jinja2 templates, plain
JavaScript and CSS served from the package (no CDN), live updates as server-sent events.

Every ``/api/`` route answers 401 without a session; every action (``POST``) also needs the session's
CSRF token in ``X-CSRF-Token`` (403 without it, and 403 for a role that may not), from the same origin.
The login form has a CSRF token of its own (a cookie and a hidden field). Cookies are HttpOnly, Secure
and SameSite=Strict; every answer carries a strict Content-Security-Policy and is not cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
import structlog
from aiohttp import web

from gatecore.api import error_text

from .actions import CONSOLE, add_api_routes, current, json_error, session_cookie
from .config import server_context
from .console import Console
from .hub import sse

log = structlog.get_logger("gate_console")

HERE = Path(__file__).parent
LOGIN_COOKIE = "gatecore_login"
KEEPALIVE_S = 15.0
WRITE_TIMEOUT_S = 10.0
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)


@web.middleware
async def contained(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
    """A bug answers 500 and is logged as its type and place, never its message."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as exc:  # noqa: BLE001 - one request's failure is that request's only
        log.error("console_failed", error=error_text(exc))
        return json_error(500, "internal error")


async def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers.setdefault("Cache-Control", "no-store")
    headers["Server"] = "gatecore"
    if request.app[CONSOLE].cfg.tls:
        headers["Strict-Transport-Security"] = "max-age=31536000"


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def render(name: str, status: int = 200, **values: Any) -> web.Response:
    return web.Response(text=TEMPLATES.get_template(name).render(**values), status=status, content_type="text/html")


# -- pages --------------------------------------------------------------------------------------
async def index(request: web.Request) -> web.StreamResponse:
    session = current(request)
    if session is None:
        return redirect("/login")
    return render("console.html", **request.app[CONSOLE].page(session))


async def login_page(request: web.Request, message: str = "", status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(32)
    response = render("login.html", status, site=request.app[CONSOLE].site.id, csrf=token, message=message)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, secure=True, samesite="Strict", path="/login")
    return response


async def login(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await request.post()
    token, cookie = form.get("csrf"), request.cookies.get(LOGIN_COOKIE)
    if not (isinstance(token, str) and cookie and secrets.compare_digest(token.encode(), cookie.encode())):
        await console.refused(None, "login", "no_csrf_token")
        return await login_page(request, "The login form had expired: please try again.", 403)
    name, password = form.get("name"), form.get("password")
    if not (isinstance(name, str) and isinstance(password, str)) or len(name) > 64 or len(password) > 1024:
        return await login_page(request, "Give an account name and its password.", 400)
    session = await console.login(name.strip(), password)
    if session is None:
        return await login_page(request, "Login failed: wrong name or password, or the account is locked for a "
                                "while after too many failures.", 401)
    response = redirect("/")
    response.set_cookie(session_cookie(console), session.token, httponly=True, secure=True, samesite="Strict",
                        path="/")
    response.del_cookie(LOGIN_COOKIE, path="/login")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    session = current(request)
    if session is None:
        return redirect("/login")
    form = await request.post()
    token = form.get("csrf")
    if not session.csrf_ok(token if isinstance(token, str) else request.headers.get("X-CSRF-Token")):
        await console.refused(session, "logout", "no_csrf_token")
        return json_error(403, "missing or wrong CSRF token")
    await console.logout(session)
    response = redirect("/login")
    response.del_cookie(session_cookie(console), path="/")
    return response


# -- the live stream ----------------------------------------------------------------------------
async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: a snapshot first, then what changed; ``expired`` when the session ends."""
    console = request.app[CONSOLE]
    session = current(request, touch=False)  # watching is not a request: the idle time runs on
    if session is None:
        return json_error(401, "login required")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    subscriber = console.hub.subscribe(session)
    try:
        frame: bytes | None = sse(console.hub.snapshot(session))
        while frame is not None:
            if not console.sessions.alive(session):
                frame = sse({"why": "session ended"}, "expired")
            async with asyncio.timeout(WRITE_TIMEOUT_S):  # a browser that reads nothing is let go
                await response.write(frame)
            if frame.startswith(b"event: expired"):
                break
            try:
                frame = await asyncio.wait_for(subscriber.queue.get(), KEEPALIVE_S)
            except TimeoutError:
                frame = b": keep-alive\n\n"
    except (TimeoutError, ConnectionResetError):
        pass
    finally:
        console.hub.unsubscribe(subscriber)
    return response


# -- the server ---------------------------------------------------------------------------------
def make_app(console: Console) -> web.Application:
    app = web.Application(middlewares=[contained], client_max_size=64 * 1024)
    app[CONSOLE] = console
    app.on_response_prepare.append(secure_headers)
    app.router.add_get("/", index)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/api/stream", stream)
    add_api_routes(app)
    app.router.add_static("/static/", HERE / "static", append_version=True)
    return app


class Server:
    """The console's aiohttp runner, bound to the profile's one address (TLS when the profile says so)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        cfg = self.console.cfg
        runner = web.AppRunner(make_app(self.console), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        host, port = cfg.address()
        site = web.TCPSite(runner, host, port, ssl_context=server_context(cfg.tls) if cfg.tls else None)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.runner = runner
        self.console.port = runner.addresses[0][1]
        self.console.announce()

    async def stop(self) -> None:
        self.console.hub.close()  # the streams end first, so the runner need not wait for them
        if self.runner is not None:
            runner, self.runner = self.runner, None
            with contextlib.suppress(Exception):
                await runner.cleanup()
