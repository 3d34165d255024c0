"""Sessions: a random token in a cookie (HttpOnly, Secure, SameSite=Strict), kept in memory with its
account, role and CSRF token; it ends after ``idle_s`` without a request, ``max_s`` after login, at
logout, or when its account is removed or given another role."""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .accounts import ROLES


@dataclass
class Session:
    token: str
    account: str
    role: str
    csrf: str
    created: float
    seen: float

    def may(self, role: str) -> bool:
        """Whether this session's role may do what ``role`` may."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class Sessions:
    def __init__(self, idle_s: float, max_s: float, clock: Callable[[], float] = time.monotonic,
                 size: int = 256) -> None:
        self.idle_s, self.max_s, self.clock, self.size = idle_s, max_s, clock, size
        self._by_token: OrderedDict[str, Session] = OrderedDict()

    def open(self, account: str, role: str) -> Session:
        """A new session (a new token at every login); past ``size`` sessions the oldest ends."""
        now = self.clock()
        session = Session(secrets.token_urlsafe(32), account, role, secrets.token_urlsafe(32), now, now)
        self._by_token[session.token] = session
        while len(self._by_token) > self.size:
            self._by_token.popitem(last=False)
        return session

    def get(self, token: str | None, touch: bool = True) -> Session | None:
        """The live session of ``token``; ``touch`` counts this as a request (the idle time starts again)."""
        session = self._by_token.get(token) if token else None
        if session is None:
            return None
        if not self.alive(session):
            self.close(session.token)
            return None
        if touch:
            session.seen = self.clock()
        return session

    def alive(self, session: Session) -> bool:
        now = self.clock()
        return (session.token in self._by_token and now - session.seen < self.idle_s
                and now - session.created < self.max_s)

    def close(self, token: str) -> Session | None:
        return self._by_token.pop(token, None)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._by_token.values()))
