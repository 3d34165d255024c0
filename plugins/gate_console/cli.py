"""``gatecore console user add|remove|list``: the officers' accounts file.

    gatecore console user add officer.7 --role officer [--accounts FILE]     # asks for the password twice
    GATECORE_PW=... gatecore console user add ops.2 --role supervisor --password-env GATECORE_PW
    gatecore console user add viewer.1 --role viewer --password-file /run/secrets/pw --replace

The password is hashed with argon2 (argon2-cffi's defaults) and never stored or shown; the file is
written whole and readable by its owner only.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path

from gatecore.api import EXIT_INVALID, officer_problem

from .accounts import MIN_PASSWORD, ROLES, Account, AccountsError, hash_password, read_accounts, write_accounts

DEFAULT_ACCOUNTS = "var/console-accounts.json"


def add_console_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    console = subparsers.add_parser("console", help="the officers' console (gate_console)")
    users = console.add_subparsers(dest="console_command", required=True).add_parser(
        "user", help="officers' accounts").add_subparsers(dest="user_command", required=True)
    add = users.add_parser("add", help="add an account (or, with --replace, give it a new password or role)")
    add.add_argument("name", help="account id: lower-case letters, digits and . _ @ -")
    add.add_argument("--role", required=True, choices=ROLES)
    secret = add.add_mutually_exclusive_group()
    secret.add_argument("--password-env", metavar="VAR", help="take the password from this environment variable")
    secret.add_argument("--password-file", metavar="PATH", help="take the password from this file (first line)")
    add.add_argument("--replace", action="store_true", help="replace the account if it exists")
    add.set_defaults(func=cmd_add)
    remove = users.add_parser("remove", help="remove an account (its sessions end at the next login)")
    remove.add_argument("name")
    remove.set_defaults(func=cmd_remove)
    listing = users.add_parser("list", help="the accounts and their roles")
    listing.set_defaults(func=cmd_list)
    for command in (add, remove, listing):
        command.add_argument("--accounts", default=DEFAULT_ACCOUNTS, metavar="FILE",
                             help=f"the accounts file (the profile's [plugins.gate_console] accounts; "
                                  f"default {DEFAULT_ACCOUNTS})")


def _existing(path: Path) -> dict[str, Account]:
    return read_accounts(path) if path.exists() else {}


def _password(args: argparse.Namespace) -> str:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if value is None:
            raise ValueError(f"environment variable {args.password_env} is not set")
        return value
    if args.password_file:
        try:
            return Path(args.password_file).read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError, UnicodeDecodeError):
            raise ValueError(f"cannot read a password from {args.password_file}") from None
    if not sys.stdin.isatty():
        raise ValueError("no terminal to ask for the password: use --password-env or --password-file")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _refusing(command: str, change: Callable[[], str]) -> int:
    """Run ``change`` (which says what it did); a refusal is one line on stderr and exit code 2."""
    try:
        done = change()
    except (ValueError, AccountsError, OSError) as exc:
        print(f"gatecore console user {command}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(done)
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    path = Path(args.accounts)

    def add() -> str:
        if problem := officer_problem(args.name, "ok"):
            raise ValueError(problem)
        accounts = _existing(path)
        if args.name in accounts and not args.replace:
            raise ValueError(f"account {args.name} exists (--replace to give it a new password or role)")
        password = _password(args)
        if len(password) < MIN_PASSWORD:
            raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
        accounts[args.name] = Account(role=args.role, hash=hash_password(password))
        write_accounts(path, accounts)
        return f"{path}: account {args.name} ({args.role})"

    return _refusing("add", add)


def cmd_remove(args: argparse.Namespace) -> int:
    path = Path(args.accounts)

    def remove() -> str:
        accounts = _existing(path)
        if accounts.pop(args.name, None) is None:
            raise ValueError(f"no account {args.name} in {path}")
        write_accounts(path, accounts)
        return f"{path}: account {args.name} removed"

    return _refusing("remove", remove)


def cmd_list(args: argparse.Namespace) -> int:
    def listing() -> str:
        return "\n".join(f"{name} {account.role}" for name, account in sorted(_existing(Path(args.accounts)).items()))

    return _refusing("list", listing)
