"""The console's API: what the page reads (``GET``, 401 without a session) and what officers do (``POST``:
401 without a session, 403 without the session's CSRF token, from another origin, or for a role that may
not; every refusal is logged and reported). Bodies are JSON; reasons are codes the profile lists."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gatecore.api import Outcome

from .console import Console
from .sessions import Session

CONSOLE = web.AppKey("console", Console)
Acting = Callable[[web.Request, Console, Session, dict[str, Any]], Awaitable[web.Response]]

#: who may do what (each role may do what the roles before it may: viewer, officer, supervisor)
MAY = {"resolve": "officer", "acknowledge": "officer", "manual": "supervisor"}


def session_cookie(console: Console) -> str:
    """``__Host-`` (HTTPS, this host only, path /) when the console speaks TLS."""
    return "__Host-gatecore_console" if console.cfg.tls else "gatecore_console"


def current(request: web.Request, touch: bool = True) -> Session | None:
    console = request.app[CONSOLE]
    return console.sessions.get(request.cookies.get(session_cookie(console)), touch)


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def same_origin(request: web.Request) -> bool:
    """A browser says where a request comes from (``Origin``, ``Sec-Fetch-Site``): only this console's own."""
    origin = request.headers.get("Origin")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    return (origin is None or origin == f"{request.scheme}://{request.host}") and fetch_site in (None, "same-origin")


# -- reading ------------------------------------------------------------------------------------
def reading(read: Callable[[web.Request, Console, Session], Any]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def guarded(request: web.Request) -> web.Response:
        session = current(request)
        if session is None:
            return json_error(401, "login required")
        return web.json_response(read(request, request.app[CONSOLE], session))
    return guarded


def _me(request: web.Request, console: Console, session: Session) -> Any:
    return {"account": session.account, "role": session.role, "csrf": session.csrf, "reasons": console.cfg.reasons()}


def _state(request: web.Request, console: Console, session: Session) -> Any:
    return console.hub.snapshot(session)


def _lanes(request: web.Request, console: Console, session: Session) -> Any:
    return {lane_id: console.hub.tile(lane_id) for lane_id in console.site.lanes}


def _referrals(request: web.Request, console: Console, session: Session) -> Any:
    return console.hub.referrals()


def _faults(request: web.Request, console: Console, session: Session) -> Any:
    return list(console.hub.faults.values())


def _events(request: web.Request, console: Console, session: Session) -> Any:
    q = request.query
    limit = int(q["limit"]) if q.get("limit", "").isdigit() else 100
    return console.hub.history(q.get("lane") or None, q.get("kind") or None, q.get("outcome") or None,
                               max(1, min(limit, console.cfg.history)))


# -- acting -------------------------------------------------------------------------------------
def acting(what: str, act: Acting) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def guarded(request: web.Request) -> web.Response:
        console = request.app[CONSOLE]
        session = current(request)
        if session is None:
            return json_error(401, "login required")
        lane = request.match_info.get("lane", "")
        lane = lane if lane in console.site.lanes else ""
        if not same_origin(request):
            await console.refused(session, what, "cross_origin", lane)
            return json_error(403, "not from this console's page")
        if not session.csrf_ok(request.headers.get("X-CSRF-Token")):
            await console.refused(session, what, "no_csrf_token", lane)
            return json_error(403, "missing or wrong CSRF token")
        if not session.may(MAY[what]):
            await console.refused(session, what, "not_permitted", lane)
            return json_error(403, f"a {session.role} may not {what}")
        try:
            body = json.loads(await request.text())
        except (ValueError, UnicodeDecodeError):
            return json_error(400, "the body must be a JSON object")
        if not isinstance(body, dict):
            return json_error(400, "the body must be a JSON object")
        return await act(request, console, session, body)
    return guarded


def _reason(console: Console, body: dict[str, Any], action: str) -> str | None:
    reason = body.get("reason")
    return reason if isinstance(reason, str) and reason in console.cfg.reasons()[action] else None


async def _answer(console: Console, session: Session, what: str, lane: str, problem: str | None) -> web.Response:
    """The lane's answer: done, or refused (it has ended, timed out, is resolved already...)."""
    if problem is None:
        return web.json_response({"ok": True})
    await console.refused(session, what, "lane_refused", lane if lane in console.site.lanes else "")
    return json_error(409, problem)


async def _resolve(request: web.Request, console: Console, session: Session, body: dict[str, Any]) -> web.Response:
    lane, txn, outcome = request.match_info["lane"], body.get("txn"), body.get("outcome")
    if outcome not in ("pass", "deny") or not isinstance(txn, str):
        return json_error(400, 'give "txn" and "outcome": "pass" or "deny"')
    reason = _reason(console, body, outcome)
    if reason is None:
        return json_error(400, f"reason must be one of {', '.join(console.cfg.reasons()[outcome])}")
    return await _answer(console, session, "resolve", lane,
                         console.resolve(session, lane, txn, Outcome(outcome), reason))


async def _manual(request: web.Request, console: Console, session: Session, body: dict[str, Any]) -> web.Response:
    lane, manual = request.match_info["lane"], body.get("manual")
    reason = _reason(console, body, "manual")
    if not isinstance(manual, bool) or reason is None:
        return json_error(400, f'give "manual": true or false, and "reason": one of '
                               f'{", ".join(console.cfg.manual_reasons)}')
    return await _answer(console, session, "manual", lane, console.set_manual(session, lane, manual, reason))


async def _acknowledge(request: web.Request, console: Console, session: Session, body: dict[str, Any]
                       ) -> web.Response:
    reason = _reason(console, body, "ack")
    if reason is None:
        return json_error(400, f'"reason" must be one of {", ".join(console.cfg.ack_reasons)}')
    if not await console.acknowledge(session, request.match_info["fault"], reason):
        return json_error(404, "no such fault open")
    return web.json_response({"ok": True})


def add_api_routes(app: web.Application) -> None:
    for path, read in (("/api/me", _me), ("/api/state", _state), ("/api/lanes", _lanes),
                       ("/api/referrals", _referrals), ("/api/faults", _faults), ("/api/events", _events)):
        app.router.add_get(path, reading(read))
    app.router.add_post("/api/lanes/{lane}/resolve", acting("resolve", _resolve))
    app.router.add_post("/api/lanes/{lane}/manual", acting("manual", _manual))
    app.router.add_post("/api/faults/{fault}/ack", acting("acknowledge", _acknowledge))
