"""``gatecore barcode read`` and ``gatecore pass keygen|issue|verify|root-keygen|sign-trust``."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from . import cose
from .passes import DEFAULT_OUTCOMES, PASS_TYPES, Issuer, verify
from .reader import BarcodeReader, Code, ReaderError, make_backend
from .trust import (
    TrustList,
    TrustListError,
    TrustListModel,
    load_root,
    sign_trust_list,
    trust_list_json,
    trusted_key,
)


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    read = subparsers.add_parser("barcode", help="barcode tools").add_subparsers(dest="barcode_cmd", required=True)
    r = read.add_parser("read", help="print one JSON line per image with every code in it")
    r.add_argument("images", nargs="+", metavar="IMAGE")
    r.add_argument("--backend", choices=["zxing", "zbar"], default="zxing")
    r.add_argument("--budget-ms", type=float, default=200.0, help="CPU time per image (default 200)")
    r.set_defaults(func=cmd_read)

    sub = subparsers.add_parser("pass", help="signed gate passes (test issuers, checks by hand)")
    cmds = sub.add_subparsers(dest="pass_cmd", required=True)
    k = cmds.add_parser("keygen", help="make a test issuer key and add it to a trust list")
    k.add_argument("--alg", choices=["EdDSA", "ES256"], default="EdDSA")
    k.add_argument("--issuer", required=True, help="issuer code, e.g. VN-MC")
    k.add_argument("--key", required=True, type=Path, help="private key PEM to write (mode 0600)")
    k.add_argument("--trust", required=True, type=Path, help="trust list JSON to create or extend")
    k.add_argument("--days", type=int, default=365, help="key validity from now")
    k.set_defaults(func=cmd_keygen)
    i = cmds.add_parser("issue", help="sign a pass and print its QR text")
    i.add_argument("--key", required=True, type=Path)
    i.add_argument("--issuer", required=True)
    i.add_argument("--subject", required=True, help="opaque identity reference (never a name)")
    i.add_argument("--type", choices=PASS_TYPES, default="resident", dest="pass_type")
    i.add_argument("--days", type=float, default=30.0, help="validity from now")
    i.add_argument("--site")
    i.add_argument("--ref")
    i.add_argument("--png", type=Path, help="also write the QR code to this PNG")
    i.set_defaults(func=cmd_issue)
    v = cmds.add_parser("verify", help="verify passes offline; one JSON line each")
    v.add_argument("--trust", required=True, type=Path)
    v.add_argument("--root", type=Path, help="the root's public key PEM, when the trust list is signed")
    v.add_argument("--site", help="this crossing's code: a pass for another site is refused")
    v.add_argument("texts", nargs="*", metavar="TEXT", help="pass texts ('-' reads lines from stdin)")
    v.add_argument("--image", action="append", default=[], type=Path, help="read the pass from an image")
    v.set_defaults(func=cmd_verify)
    rk = cmds.add_parser("root-keygen", help="make a root key that signs trust lists")
    rk.add_argument("--alg", choices=["EdDSA", "ES256"], default="EdDSA")
    rk.add_argument("--key", required=True, type=Path, help="private key PEM to write (mode 0600); keep it offline")
    rk.add_argument("--public", required=True, type=Path, help="public key PEM to write (the profile's trust_root)")
    rk.set_defaults(func=cmd_root_keygen)
    st = cmds.add_parser("sign-trust", help="sign a JSON trust list with the root key")
    st.add_argument("--root-key", required=True, type=Path)
    st.add_argument("--trust", required=True, type=Path, help="JSON trust list (its sequence must grow per issue)")
    st.add_argument("--out", required=True, type=Path, help="signed trust list to write")
    st.set_defaults(func=cmd_sign_trust)


def code_json(code: Code) -> dict[str, Any]:
    """The issue's JSON shape of one code: text as decoded, or base64 bytes flagged ``"bytes": true``."""
    out: dict[str, Any] = {"format": code.format}
    if code.is_bytes:
        out.update(text=base64.b64encode(code.raw).decode("ascii"), bytes=True)
    else:
        out["text"] = code.text
    out["box"] = [list(p) for p in code.box]
    return out


def _read_image(path: Path, reader: BarcodeReader) -> list[Code]:
    import cv2

    frame = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if frame is None:
        raise ReaderError("cannot read the image")
    return reader.read(frame)


def cmd_read(args: argparse.Namespace) -> int:
    reader = BarcodeReader(backend=make_backend(args.backend), budget_ms=args.budget_ms)
    failed = 0
    for name in args.images:
        line: dict[str, Any] = {"file": name, "codes": []}
        try:
            line["codes"] = [code_json(c) for c in _read_image(Path(name), reader)]
        except ReaderError as exc:
            line["error"] = str(exc)
            failed += 1
        print(json.dumps(line), flush=True)
    return 1 if failed else 0


def _new_key(alg: str, path: Path) -> cose.PrivateKey:
    """A new private key, written to ``path`` (which must not exist) readable by its owner only."""
    key: cose.PrivateKey = (ed25519.Ed25519PrivateKey.generate() if alg == "EdDSA"
                            else ec.generate_private_key(ec.SECP256R1()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


def cmd_keygen(args: argparse.Namespace) -> int:
    key = _new_key(args.alg, args.key)
    keys = TrustListModel.model_validate_json(args.trust.read_bytes()).keys if args.trust.exists() else []
    now = datetime.now(UTC).replace(microsecond=0)
    entry = trusted_key(key.public_key(), args.issuer, now, now + timedelta(days=args.days))
    args.trust.write_text(trust_list_json([*keys, entry]))
    print(json.dumps({"kid": entry.kid, "issuer": args.issuer, "alg": entry.alg, "key": str(args.key),
                      "trust": str(args.trust)}))
    return 0


def cmd_root_keygen(args: argparse.Namespace) -> int:
    key = _new_key(args.alg, args.key)
    args.public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    print(json.dumps({"alg": args.alg, "key": str(args.key), "public": str(args.public)}))
    return 0


def cmd_sign_trust(args: argparse.Namespace) -> int:
    root = _load_key(args.root_key)
    try:
        model = TrustListModel.model_validate_json(args.trust.read_bytes())
        TrustList.from_model(model)  # every key parses and matches its alg
    except (OSError, ValueError) as exc:
        print(f"gatecore pass sign-trust: {args.trust}: {exc}", file=sys.stderr)
        return 2
    args.out.write_bytes(sign_trust_list(model, root))
    print(json.dumps({"out": str(args.out), "sequence": model.sequence, "keys": len(model.keys)}))
    return 0


def _load_key(path: Path) -> cose.PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("the key must be Ed25519 or P-256")
    return key


def cmd_issue(args: argparse.Namespace) -> int:
    now = int(time.time())
    issuer = Issuer(args.issuer, _load_key(args.key))
    text = issuer.issue(args.subject, args.pass_type, not_before=now, expires=now + int(args.days * 86_400),
                        issued_at=now, site=args.site, ref=args.ref)
    if args.png:
        import cv2

        from .synth import render

        cv2.imwrite(str(args.png), render(text, "QRCode", scale=6))
    print(text)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        trust = TrustList.load(args.trust, load_root(args.root) if args.root else None)
    except TrustListError as exc:
        print(f"gatecore pass verify: {exc}", file=sys.stderr)
        return 2
    inputs: list[tuple[str, str | None]] = []
    for text in args.texts:
        inputs += [("stdin", line.rstrip("\n")) for line in sys.stdin] if text == "-" else [("arg", text)]
    reader = BarcodeReader(budget_ms=200.0)
    for path in args.image:
        try:
            texts = [c.text for c in _read_image(path, reader) if c.text.startswith("GP")]
        except ReaderError:
            texts = []
        inputs.append((str(path), texts[0] if texts else None))
    bad = 0
    for origin, text in inputs:
        line: dict[str, Any] = {"input": origin}
        if text is None:
            line.update(reason="no_pass_found", outcome="REFER")
        else:
            result = verify(text, trust, site=args.site)
            line.update(reason=result.reason.value, outcome=DEFAULT_OUTCOMES[result.reason],
                        id_hash=result.id_hash, kid=result.kid, detail=result.detail)
            if result.claims is not None:
                c = result.claims
                line["claims"] = {"issuer": c.issuer, "subject": c.subject, "type": c.pass_type,
                                  "not_before": c.not_before, "expires": c.expires, "site": c.site, "ref": c.ref}
        bad += line["outcome"] != "PASS"
        print(json.dumps(line), flush=True)
    return 1 if bad else 0
