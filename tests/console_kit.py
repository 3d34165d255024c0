"""What the console's tests share: a site with the console on a free port, an accounts file (hashed with
cheap argon2 parameters, so that a login costs a test milliseconds), and an HTTP client that logs in as
a browser does (the login form's CSRF token, the session cookie, the session's CSRF token)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import argon2

import gate_console
from gate_console.accounts import Account, hash_password, write_accounts
from gatecore.api import Site
from gatecore.testing import Recorder, make_site

from . import scripted
from .conftest import SITE, lane_toml

CHEAP = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORDS = {"officer.7": "officer-password-7", "viewer.1": "viewer-password-1", "super.2": "super-password-2"}
ROLES = {"officer.7": "officer", "viewer.1": "viewer", "super.2": "supervisor"}
OFFICER_LANE = lane_toml().replace("refer_hold_ms = 0", "refer_hold_ms = 0\n  officer_timeout_ms = 10000")


def write_test_accounts(path: Path) -> Path:
    write_accounts(path, {name: Account(role=ROLES[name], hash=hash_password(pw, CHEAP))  # type: ignore[arg-type]
                          for name, pw in PASSWORDS.items()})
    return path


def console_site(tmp_path: Path, section: str = "", lanes: str = OFFICER_LANE,
                 site: str = SITE) -> tuple[Site, Recorder]:
    """A site with the scripted test plugin, the console on 127.0.0.1 (a free port) and the test accounts."""
    accounts = write_test_accounts(tmp_path / "accounts.json")
    text = (site + f'[plugins.gate_console]\nlisten = "127.0.0.1:0"\naccounts = "{accounts}"\n'
            f"lockout = {{ failures = 10, lock_s = 600 }}\n{section}\n" + lanes)
    return make_site(text, tmp_path, plugins={"scripted": scripted})


def console_of(site: Site) -> Any:
    return site.stash[gate_console.SERVER].console


@dataclass
class Client:
    """A browser's part, over HTTP: cookies kept by hand (aiohttp's jar keeps none for an IP address)."""

    base: str
    http: aiohttp.ClientSession
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""

    def _keep(self, response: aiohttp.ClientResponse) -> None:
        for name, morsel in response.cookies.items():
            if morsel.value:
                self.cookies[name] = morsel.value
            else:
                self.cookies.pop(name, None)

    async def request(self, method: str, path: str, *, csrf: bool = True, headers: dict[str, str] | None = None,
                      **kwargs: Any) -> tuple[int, Any]:
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), **(headers or {})}
        if csrf and self.csrf and method == "POST":
            sent.setdefault("X-CSRF-Token", self.csrf)
        async with self.http.request(method, self.base + path, headers=sent, allow_redirects=False,
                                     **kwargs) as response:
            self._keep(response)
            body: Any = await response.text()
            if response.content_type == "application/json":
                body = await response.json()
            return response.status, body

    async def login(self, name: str, password: str | None = None) -> int:
        """Log in through the form; the status of the form's answer (303 when logged in)."""
        _, page = await self.request("GET", "/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token is not None
        given = PASSWORDS.get(name, "") if password is None else password
        status, _ = await self.request("POST", "/login", data={"csrf": token.group(1), "name": name, "password": given})
        if status == 303:
            _, me = await self.request("GET", "/api/me")
            self.csrf = me["csrf"]
        return status
