"""Officers' accounts: a JSON file of names, roles and argon2 password hashes (never a password), and the
lock-out of a name after repeated wrong passwords.

    {"schema": "gate_console.accounts/1",
     "accounts": {"officer.7": {"role": "officer", "hash": "$argon2id$v=19$m=65536,t=3,p=4$..."}}}

``gatecore console user add NAME --role ROLE --accounts PATH`` writes it (mode 0600). A running console
reads it again when it changes (at the next login), so an account added, removed or given another role
counts without a restart; the sessions of an account removed or given another role end.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Literal

import argon2
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: Each role may do what the roles before it may: a viewer watches, an officer resolves referrals, takes
#: lanes to manual and back and acknowledges faults, a supervisor also unlocks locked-out accounts.
ROLES = ("viewer", "officer", "supervisor")
SCHEMA = "gate_console.accounts/1"
MIN_PASSWORD = 12

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._@-]{0,63}$")]


class AccountsError(Exception):
    """The accounts file cannot be read or is not well formed; the message says where."""


class Account(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["viewer", "officer", "supervisor"]
    hash: str = Field(description="argon2 hash of the password (argon2-cffi's PasswordHasher)")


class AccountsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_: Literal["gate_console.accounts/1"] = Field("gate_console.accounts/1", alias="schema")
    accounts: dict[Name, Account] = Field(default_factory=dict)


def read_accounts(path: Path) -> dict[str, Account]:
    """The accounts of ``path``; :class:`AccountsError` names the file and the line or key at fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AccountsError(f"accounts file {path} does not exist (make it with `gatecore console user add NAME "
                            f"--role ROLE --accounts {path}`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise AccountsError(f"accounts file {path} cannot be read: {why}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AccountsError(f"accounts file {path}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg})") from None
    try:
        accounts = AccountsFile.model_validate(data).accounts
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "(top)"
        raise AccountsError(f"accounts file {path}: {where}: {error['msg']}") from None
    for name, account in accounts.items():
        try:
            argon2.extract_parameters(account.hash)
        except InvalidHashError:
            raise AccountsError(f"accounts file {path}: accounts.{name}.hash: not an argon2 hash") from None
    return accounts


def write_accounts(path: Path, accounts: Mapping[str, Account]) -> None:
    """Replace ``path`` with ``accounts`` at once (a new file renamed over the old), readable by its owner only."""
    body = AccountsFile(accounts=dict(sorted(accounts.items()))).model_dump_json(by_alias=True, indent=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(body + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def hash_password(password: str, hasher: argon2.PasswordHasher | None = None) -> str:
    return (hasher or argon2.PasswordHasher()).hash(password)


class Accounts:
    """The accounts a console knows: the file's (read again when it changes) and those made at start."""

    def __init__(self, path: Path | None, made: Mapping[str, Account] | None = None) -> None:
        self.path = path
        self.made = dict(made or {})
        self._file: dict[str, Account] = {}
        self._seen: tuple[float, int] | None = None
        self._hasher = argon2.PasswordHasher()
        # verified when the name given is no account, so that a wrong name takes as long as a wrong password
        self._stand_in = self._hasher.hash(secrets.token_urlsafe(16))
        self.refresh()

    def refresh(self) -> bool:
        """Read the file again if it changed; ``True`` when it was read. A file that went bad is not taken:
        the accounts known before stay (and :class:`AccountsError` says why)."""
        if self.path is None:
            return False
        stat = self.path.stat()
        seen = (stat.st_mtime, stat.st_size)
        if seen == self._seen:
            return False
        self._file = read_accounts(self.path)
        self._seen = seen
        return True

    def get(self, name: str) -> Account | None:
        return self.made.get(name) or self._file.get(name)

    def verify(self, name: str, password: str) -> Account | None:
        """The account if ``password`` is its password; slow on purpose (argon2): call it in a thread."""
        account = self.get(name)
        try:
            self._hasher.verify(account.hash if account else self._stand_in, password)
        except (VerificationError, InvalidHashError):
            return None
        return account


class Lockouts:
    """Names locked after ``failures`` wrong passwords in a row, for ``lock_s`` seconds (unknown names too,
    so that a lock says nothing of whether an account exists). Bounded: the oldest names are forgotten."""

    def __init__(self, failures: int, lock_s: float, clock: Callable[[], float] = time.monotonic,
                 size: int = 4096) -> None:
        self.failures, self.lock_s, self.clock, self.size = failures, lock_s, clock, size
        self._names: OrderedDict[str, tuple[int, float]] = OrderedDict()  # name -> (failures, locked until)

    def locked(self, name: str) -> bool:
        _, until = self._names.get(name, (0, 0.0))
        if until and until <= self.clock():
            del self._names[name]  # the lock is over: a fresh count
            return False
        return bool(until)

    def failed(self, name: str) -> bool:
        """Count a wrong password; ``True`` when it locks the name."""
        count, _ = self._names.pop(name, (0, 0.0))
        count += 1
        locks = count >= self.failures
        self._names[name] = (count, self.clock() + self.lock_s if locks else 0.0)
        while len(self._names) > self.size:
            self._names.popitem(last=False)
        return locks

    def succeeded(self, name: str) -> None:
        self._names.pop(name, None)

    def unlock(self, name: str) -> bool:
        """End a lock now; ``True`` when the name was locked."""
        was = self.locked(name)
        self._names.pop(name, None)
        return was
