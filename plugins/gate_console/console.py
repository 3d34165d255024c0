"""One site's console: its accounts, sessions and lock-outs, the live page state, and what officers do.

Every login, failed login, lock-out, logout, fault acknowledged and action refused is logged (as codes:
never an account name, a password or what was typed) and reported to the IOC as an
:class:`gatecore.api.OfficerEvent` naming the account; the officers' decisions and manual mode are the
lanes' own records, made by the core (``site.resolve``, ``site.set_manual``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import structlog

from gatecore.api import OfficerEvent, Outcome, SiteView, Stamp, error_text, officer_problem

from .accounts import Account, Accounts, AccountsError, Lockouts, hash_password
from .config import ConsoleSection
from .hub import Hub
from .sessions import Session, Sessions

log = structlog.get_logger("gate_console")

#: argon2 verifications at a time (each takes 64 MiB and tens of ms of a core)
VERIFYING = 2
#: the name a lock-out counts for when the name given is no account id at all
NOT_AN_ID = "?"


class Console:
    def __init__(self, site: SiteView, cfg: ConsoleSection) -> None:
        self.site, self.cfg = site, cfg
        made, self.demo_password = demo_account(cfg)
        self.accounts = Accounts(Path(cfg.accounts) if cfg.accounts else None, made)
        self.sessions = Sessions(cfg.session_idle_s, cfg.session_max_s)
        self.lockouts = Lockouts(cfg.lockout.failures, cfg.lockout.lock_s)
        self.hub = Hub(site, cfg)
        self.port: int | None = None
        self._verifying: asyncio.Semaphore | None = None

    # -- logins -------------------------------------------------------------------------------
    async def login(self, name: str, password: str) -> Session | None:
        """A session for ``name`` if ``password`` is its password and the name is not locked out."""
        known = self._known(name)
        key = name if officer_problem(name, "ok") is None else NOT_AN_ID
        if self.lockouts.locked(key):
            log.info("console_login", outcome="locked")
            await self.record("login_failed", known, reason="locked")
            return None
        self._verifying = self._verifying or asyncio.Semaphore(VERIFYING)
        async with self._verifying:
            account = await asyncio.to_thread(self._verify, name, password)
        self._revalidate()
        if account is None:
            locks = self.lockouts.failed(key)
            log.info("console_login", outcome="failed")
            await self.record("login_failed", known, reason="wrong_password" if known else "unknown_account")
            if locks:
                log.warning("console_login", outcome="locked_out", seconds=self.cfg.lockout.lock_s)
                await self.record("locked_out", known, reason="too_many_failures")
            return None
        self.lockouts.succeeded(key)
        session = self.sessions.open(name, account.role)
        log.info("console_login", outcome="ok", role=account.role)
        await self.record("login", name, reason=account.role)
        return session

    def _known(self, name: str) -> str | None:
        """``name`` if it is an account (it may then be recorded), else ``None`` (what was typed never is)."""
        return name if officer_problem(name, "ok") is None and self.accounts.get(name) is not None else None

    def _verify(self, name: str, password: str) -> Account | None:
        """In a worker thread: read the accounts file again if it changed, then check the password."""
        try:
            self.accounts.refresh()
        except (AccountsError, OSError) as exc:  # the accounts known before stay
            log.error("console_accounts_unreadable", error=error_text(exc))
        return self.accounts.verify(name, password)

    def _revalidate(self) -> None:
        """End the sessions of accounts removed from the file or given another role."""
        ended = [s for s in self.sessions if (a := self.accounts.get(s.account)) is None or a.role != s.role]
        for session in ended:
            self.sessions.close(session.token)
        if ended:
            self.hub.end(ended)

    async def logout(self, session: Session) -> None:
        self.sessions.close(session.token)
        self.hub.end([session])
        log.info("console_logout")
        await self.record("logout", session.account)

    # -- actions ------------------------------------------------------------------------------
    def resolve(self, session: Session, lane: str, txn: str, outcome: Outcome, reason: str) -> str | None:
        return self.site.resolve(lane, txn, outcome, session.account, reason)

    def set_manual(self, session: Session, lane: str, manual: bool, reason: str) -> str | None:
        return self.site.set_manual(lane, manual, session.account, reason)

    async def acknowledge(self, session: Session, fault_id: str, reason: str) -> bool:
        fault = self.hub.acknowledge(fault_id)
        if fault is None:
            return False
        log.info("console_action", kind="acknowledge", lane=fault["lane"], reason=reason)
        await self.record("fault_acknowledged", session.account, fault["lane"], reason, fault_id)
        return True

    async def refused(self, session: Session | None, what: str, why: str, lane: str = "") -> None:
        """An action refused at the console (no permission, no CSRF token) or by the lane."""
        log.info("console_action", kind=what, lane=lane or None, why=why, refused=True)
        await self.record("action_refused", session.account if session else None, lane, why)

    async def record(self, kind: str, officer: str | None, lane: str = "", reason: str = "",
                     ref: str | None = None) -> None:
        """Report an officer event to the IOC (through the core) and show it in the history."""
        event = OfficerEvent(Stamp(self.site.id, lane), kind, officer, reason, ref)
        problem = await self.site.report_officer_event(event)
        if problem is not None:
            log.error("console_event_refused", kind=kind)
        else:
            self.hub.report(event)

    # -- the page -----------------------------------------------------------------------------
    def announce(self) -> None:
        """Say where the console is, and the demo account's password if it was made up (once, at start)."""
        url = self.cfg.url(self.port)
        log.info("console_serving", url=url)
        demo = self.cfg.demo_account
        if demo is not None:
            told = (f"the password in ${demo.password_env}" if self.demo_password is None
                    else f"password {self.demo_password} (set ${demo.password_env} to choose one)")
            print(f"gate_console: officers' console at {url} - demo account '{demo.name}' ({demo.role}), {told}",
                  file=sys.stderr, flush=True)
            self.demo_password = None

    def page(self, session: Session) -> dict[str, Any]:
        return {"site": self.site.id, "account": session.account, "role": session.role, "csrf": session.csrf}


def demo_account(cfg: ConsoleSection) -> tuple[dict[str, Account], str | None]:
    """The demo account, if the profile asks for one, and the password made up for it (``None`` when the
    environment gives it)."""
    demo = cfg.demo_account
    if demo is None:
        return {}, None
    given = os.environ.get(demo.password_env)
    password = given or secrets.token_urlsafe(12)
    return {demo.name: Account(role=demo.role, hash=hash_password(password))}, None if given else password
