"""``gatecore link keys generate | example | sign | verify``: keys, messages and checks by hand."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from gatecore.api import EXIT_INVALID

from .canonical import encode, signed
from .messages import KINDS, example, kind_of, time_text
from .suites import SUITES, KeyError_, generate, load_private, write_private
from .trust import TrustError, TrustList, trust_document, trusted_key, write_trust
from .verify import EXPLAIN, Refused, authenticate, parse

YEAR_S = 365 * 86400


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    link = subparsers.add_parser("link", help="the partner-gate link: keys, example messages, signing, verifying")
    cmds = link.add_subparsers(dest="link_cmd", required=True)
    keys = cmds.add_parser("keys", help="signing keys").add_subparsers(dest="keys_cmd", required=True)
    g = keys.add_parser("generate", help="write ID.key (mode 0600), ID.pub and trust.json (that key, a year)")
    g.add_argument("--key-id", required=True, help="the key's id in trust lists, e.g. mc-2026a")
    g.add_argument("--out", required=True, type=Path, help="directory to write to")
    g.add_argument("--suite", choices=SUITES, default="ed25519")
    g.add_argument("--party", default="mong-cai", help="the party the key signs for (default mong-cai)")
    g.set_defaults(func=cmd_generate)
    e = cmds.add_parser("example", help="print a valid unsigned example message")
    e.add_argument("kind", choices=KINDS)
    e.set_defaults(func=cmd_example)
    s = cmds.add_parser("sign", help="print MESSAGE signed with the key (sent: now)")
    s.add_argument("--key", required=True, type=Path, help="private key PEM (its id: the file name without .key)")
    s.add_argument("--key-id", help="the key's id, if not the file name's")
    s.add_argument("message", type=Path)
    s.set_defaults(func=cmd_sign)
    v = cmds.add_parser("verify", help="exit 0 for a valid message, 2 for an invalid one, with one line why")
    v.add_argument("--trust", required=True, type=Path, help="trust list (JSON)")
    v.add_argument("--root", type=Path, help="PEM public key that signs the trust list (default: one of its keys)")
    v.add_argument("file", type=Path)
    v.set_defaults(func=cmd_verify)


def _fail(command: str, why: str) -> int:
    print(f"gatecore link {command}: {why}", file=sys.stderr)
    return EXIT_INVALID


def cmd_generate(args: argparse.Namespace) -> int:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", args.key_id):
        return _fail("keys generate", f"--key-id {args.key_id!r}: letters, digits and _ . - only, at most 64")
    try:
        key = generate(args.suite, args.key_id)
        now = time.time()
        row = trusted_key(key.public(), args.key_id, args.party, now, now + YEAR_S)
        document = trust_document([row], key, 1, now)
        TrustList.from_data(document, None, "new trust list")  # a key id or party the schema refuses stops here
        args.out.mkdir(parents=True, exist_ok=True)
        write_private(args.out / f"{args.key_id}.key", key)
    except (KeyError_, TrustError, OSError) as exc:
        return _fail("keys generate", str(exc))
    (args.out / f"{args.key_id}.pub").write_bytes(key.public().pem())
    write_trust(args.out / "trust.json", document)
    print(json.dumps({"kid": args.key_id, "suite": args.suite, "party": args.party,
                      "key": str(args.out / f"{args.key_id}.key"), "trust": str(args.out / "trust.json")}))
    return 0


def cmd_example(args: argparse.Namespace) -> int:
    print(json.dumps(example(args.kind, time.time()), indent=2, ensure_ascii=False))
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    try:
        key = load_private(args.key.read_bytes(), args.key_id or args.key.name.removesuffix(".key"))
        data: dict[str, Any] = {**json.loads(args.message.read_bytes()), "sent": time_text(time.time())}
        data.pop("signature", None)
        parse(encode(data))  # the message matches its schema
    except (OSError, ValueError) as exc:
        return _fail("sign", str(exc))
    except Refused as exc:
        return _fail("sign", f"{args.message}: {EXPLAIN[exc.reason]} {exc.detail}".rstrip())
    print(json.dumps(signed(data, key, validated=True), ensure_ascii=False))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        trust = TrustList.load(args.trust, args.root)
        raw = args.file.read_bytes()
    except (TrustError, OSError) as exc:
        print(f"invalid: trust: {exc}")
        return EXIT_INVALID
    try:
        checked = authenticate(raw, trust)
    except Refused as exc:
        print(f"invalid: {exc.reason}: {EXPLAIN[exc.reason]}{f' ({exc.detail})' if exc.detail else ''}")
        return EXIT_INVALID
    m, k = checked.message, checked.key.row
    print(f"valid: {kind_of(m)} {m.id} from {m.from_}, signed by {k.kid} ({k.suite}) at {m.sent}")
    return 0
