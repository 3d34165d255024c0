"""Signed passes: issue -> verify, every rejection reason, replay, trust list, COSE interop."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from pathlib import Path

import base45  # type: ignore[import-untyped]
import cbor2
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gate_barcode import cose, synth
from gate_barcode.passes import DEFAULT_OUTCOMES, MAX_INFLATED, PREFIX, Issuer, Reason, encode, id_hash, verify
from gate_barcode.reader import BarcodeReader
from gate_barcode.trust import TrustList, TrustListError, TrustListModel, trust_list_json, trusted_key

NOW = 1_790_000_000  # 2026-09-21
DAY = 86_400
KEY_FROM = datetime(2026, 1, 1, tzinfo=UTC)
KEY_TO = datetime(2027, 1, 1, tzinfo=UTC)


def _issuer(code: str, alg: str) -> Issuer:
    key = ed25519.Ed25519PrivateKey.generate() if alg == "EdDSA" else ec.generate_private_key(ec.SECP256R1())
    return Issuer(code, key)


@pytest.fixture(scope="module", params=["EdDSA", "ES256"])
def issuer(request: pytest.FixtureRequest) -> Issuer:
    return _issuer("VN-MC", request.param)


@pytest.fixture(scope="module")
def revoked_issuer() -> Issuer:
    return _issuer("VN-MC", "EdDSA")


@pytest.fixture(scope="module")
def trust(issuer: Issuer, revoked_issuer: Issuer) -> TrustList:
    keys = [trusted_key(issuer.key.public_key(), "VN-MC", KEY_FROM, KEY_TO),
            trusted_key(revoked_issuer.key.public_key(), "VN-MC", KEY_FROM, KEY_TO, revoked=True)]
    return TrustList.from_model(TrustListModel(keys=keys))


def _pass(issuer: Issuer, **kw: object) -> str:
    args: dict[str, object] = {"subject": "res-000417", "pass_type": "resident", "not_before": NOW - DAY,
                               "expires": NOW + 30 * DAY, "issued_at": NOW - DAY, "site": "mong-cai"}
    args.update(kw)
    return issuer.issue(**args)  # type: ignore[arg-type]


def _rewrap(text: str, edit: object) -> str:
    """Decode a pass down to its COSE array, let ``edit`` change it, and re-encode."""
    raw = zlib.decompress(base45.b45decode(text[len(PREFIX):]))
    tag = cbor2.loads(raw)
    parts = list(tag.value)
    edit(parts)  # type: ignore[operator]
    return encode(cbor2.dumps(cbor2.CBORTag(18, parts)))


def test_issued_pass_verifies_with_its_claims(issuer: Issuer, trust: TrustList) -> None:
    text = _pass(issuer, pass_id=b"P" * 16, ref="doc-ref-9")
    result = verify(text, trust, now=NOW)
    assert result.ok and result.reason is Reason.OK
    assert result.claims is not None
    assert (result.claims.subject, result.claims.pass_type, result.claims.issuer) == ("res-000417", "resident", "VN-MC")
    assert (result.claims.site, result.claims.ref, result.claims.pass_id) == ("mong-cai", "doc-ref-9", b"P" * 16)
    assert result.id_hash == id_hash(b"P" * 16) and len(result.id_hash) == 16
    assert result.kid == issuer.kid.hex()


def test_pass_text_is_qr_alphanumeric_and_survives_a_camera_frame(issuer: Issuer, trust: TrustList) -> None:
    text = _pass(issuer)
    assert text.startswith("GP1:") and set(text) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    frame = synth.single_code_frame(text, "QRCode", 3.0, angle=7, size=(720, 960))
    (code,) = BarcodeReader(budget_ms=1e6).read(frame)
    assert verify(code.text, trust, now=NOW).ok


def test_forged_signature_is_rejected(issuer: Issuer, trust: TrustList) -> None:
    def flip(parts: list[object]) -> None:
        sig = bytearray(parts[3])  # type: ignore[arg-type]
        sig[5] ^= 0x40
        parts[3] = bytes(sig)

    assert verify(_rewrap(_pass(issuer), flip), trust, now=NOW).reason is Reason.BAD_SIGNATURE


def test_altered_claims_under_a_valid_signature_are_rejected(issuer: Issuer, trust: TrustList) -> None:
    other = _pass(issuer, subject="res-999999")
    other_payload = cbor2.loads(zlib.decompress(base45.b45decode(other[4:]))).value[2]

    def swap(parts: list[object]) -> None:
        parts[2] = other_payload

    result = verify(_rewrap(_pass(issuer), swap), trust, now=NOW)
    assert result.reason is Reason.BAD_SIGNATURE and result.claims is None


def test_attacker_key_using_a_trusted_kid_is_rejected(issuer: Issuer, trust: TrustList) -> None:
    attacker = _issuer("VN-MC", cose.ALG_NAMES[cose.alg_for(issuer.key)])
    forged = encode(cose.sign1(cbor2.dumps({1: "VN-MC"}), attacker.key, issuer.kid))
    assert verify(forged, trust, now=NOW).reason is Reason.BAD_SIGNATURE


def test_algorithm_confusion_is_rejected(issuer: Issuer, trust: TrustList) -> None:
    def relabel(parts: list[object]) -> None:
        alg = cose.ALG_ES256 if cose.alg_for(issuer.key) == cose.ALG_EDDSA else cose.ALG_EDDSA
        parts[0] = cbor2.dumps({cose.HDR_ALG: alg, cose.HDR_KID: issuer.kid})

    assert verify(_rewrap(_pass(issuer), relabel), trust, now=NOW).reason is Reason.BAD_SIGNATURE


def test_unknown_issuer_is_rejected(trust: TrustList) -> None:
    stranger = _issuer("XX-ZZ", "EdDSA")
    result = verify(_pass(stranger), trust, now=NOW)
    assert result.reason is Reason.UNKNOWN_ISSUER and result.kid == stranger.kid.hex()


def test_wrong_issuer_claim_is_rejected(issuer: Issuer, trust: TrustList) -> None:
    impostor = Issuer("CN-DX", issuer.key)  # a trusted VN-MC key signing as another issuer
    assert verify(_pass(impostor), trust, now=NOW).reason is Reason.WRONG_ISSUER


def test_revoked_key_is_rejected(revoked_issuer: Issuer, trust: TrustList) -> None:
    assert verify(_pass(revoked_issuer), trust, now=NOW).reason is Reason.REVOKED_KEY


def test_pass_issued_outside_key_validity_is_rejected(issuer: Issuer, trust: TrustList) -> None:
    early = int(KEY_FROM.timestamp()) - DAY
    assert verify(_pass(issuer, issued_at=early), trust, now=NOW).reason is Reason.KEY_NOT_VALID


@pytest.mark.parametrize(("now", "reason"), [
    (NOW + 30 * DAY - 61, Reason.OK),
    (NOW + 30 * DAY + 60, Reason.EXPIRED),
    (NOW + 31 * DAY, Reason.EXPIRED),
    (NOW - DAY - 59, Reason.OK),  # within the 60 s leeway
    (NOW - DAY - 61, Reason.NOT_YET_VALID),
    (NOW - 10 * DAY, Reason.NOT_YET_VALID),
])
def test_validity_window_is_enforced_with_leeway(issuer: Issuer, trust: TrustList, now: int, reason: Reason) -> None:
    assert verify(_pass(issuer), trust, now=now).reason is reason


@pytest.mark.parametrize("keep", [0, 3, 4, 5, 20, 0.5, 0.9, -1])
def test_truncated_pass_is_malformed(issuer: Issuer, trust: TrustList, keep: float) -> None:
    text = _pass(issuer)
    cut = text[: int(len(text) * keep)] if isinstance(keep, float) else text[:keep]
    assert verify(cut, trust, now=NOW).reason is Reason.MALFORMED


@pytest.mark.parametrize("pos", [6, 30, 77, -4])
def test_corrupted_characters_are_malformed(issuer: Issuer, trust: TrustList, pos: int) -> None:
    text = _pass(issuer)
    i = pos % len(text)
    bad = text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1:]
    assert verify(bad, trust, now=NOW).reason is Reason.MALFORMED


def test_corrupted_payload_bytes_fail_the_signature(issuer: Issuer, trust: TrustList) -> None:
    def corrupt(parts: list[object]) -> None:
        payload = bytearray(parts[2])  # type: ignore[arg-type]
        payload[-1] ^= 0x01
        parts[2] = bytes(payload)

    assert verify(_rewrap(_pass(issuer), corrupt), trust, now=NOW).reason is Reason.BAD_SIGNATURE


@pytest.mark.parametrize(("text", "reason"), [
    ("", Reason.MALFORMED),
    ("HC1:6BFOXN%TS3DH0YOJ58S", Reason.MALFORMED),
    ("GP2:6BFOXN%TS3DH0YOJ58S", Reason.UNSUPPORTED_VERSION),
    ("GP1:", Reason.MALFORMED),
    ("GP1:abc", Reason.MALFORMED),
    ("GP1:" + "A" * 5000, Reason.MALFORMED),
])
def test_garbage_is_malformed_or_unsupported(trust: TrustList, text: str, reason: Reason) -> None:
    result = verify(text, trust, now=NOW)
    assert result.reason is reason and result.claims is None and len(result.id_hash) == 16


def test_zip_bomb_is_refused(trust: TrustList) -> None:
    bomb = PREFIX + base45.b45encode(zlib.compress(b"\0" * (MAX_INFLATED * 8), 9)).decode()
    assert len(bomb) < 1000
    assert verify(bomb, trust, now=NOW).detail.startswith("inflates beyond")


def test_signed_but_incomplete_claims_are_rejected(issuer: Issuer, trust: TrustList) -> None:
    text = _pass(issuer, claims_override={-260: {1: {"v": 1, "t": "resident"}}})  # no sub
    result = verify(text, trust, now=NOW)
    assert result.reason is Reason.BAD_CLAIMS and "sub" in result.detail


def test_every_reason_has_a_default_outcome() -> None:
    assert set(DEFAULT_OUTCOMES) == set(Reason)
    assert DEFAULT_OUTCOMES[Reason.OK] == "PASS"
    assert all(DEFAULT_OUTCOMES[r] != "PASS" for r in Reason if r is not Reason.OK)


def test_trust_list_round_trips_through_json(tmp_path: Path, issuer: Issuer) -> None:
    path = tmp_path / "trust.json"
    path.write_text(trust_list_json([trusted_key(issuer.key.public_key(), "VN-MC", KEY_FROM, KEY_TO)]))
    assert verify(_pass(issuer), TrustList.load(path), now=NOW).ok


@pytest.mark.parametrize(("content", "match"), [
    ("{", "invalid trust list"),
    ('{"version": 1, "keys": [], "extra": 1}', "invalid trust list"),
    ('{"version": 1, "keys": [{"kid": "00", "issuer": "X", "alg": "EdDSA", "public_key": "AA==",'
     ' "not_before": "2026-01-01T00:00:00", "not_after": "2027-01-01T00:00:00Z"}]}', "timezone"),
    ('{"version": 1, "keys": [{"kid": "00", "issuer": "X", "alg": "EdDSA", "public_key": "AA==",'
     ' "not_before": "2026-01-01T00:00:00Z", "not_after": "2027-01-01T00:00:00Z"}]}', "key '00'"),
])
def test_broken_trust_list_is_a_clear_error(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "trust.json"
    path.write_text(content)
    with pytest.raises(TrustListError, match=match):
        TrustList.load(path)


def test_trust_list_rejects_a_key_that_does_not_match_its_alg(tmp_path: Path) -> None:
    key = trusted_key(ed25519.Ed25519PrivateKey.generate().public_key(), "X", KEY_FROM, KEY_TO)
    with pytest.raises(TrustListError, match="does not match alg"):
        TrustList.from_model(TrustListModel(keys=[key.model_copy(update={"alg": "ES256"})]))


# --- interoperability with pycose (its encoder and verifier; its decoder is broken on cbor2 6) ---

def test_pycose_signed_message_verifies_here() -> None:
    from pycose.algorithms import EdDSA
    from pycose.headers import KID, Algorithm
    from pycose.keys import OKPKey
    from pycose.keys.curves import Ed25519
    from pycose.messages import Sign1Message

    key = OKPKey.generate_key(crv=Ed25519)
    msg = Sign1Message(phdr={Algorithm: EdDSA, KID: b"kid-1"}, payload=b"claims")
    msg.key = key
    ours = cose.decode(msg.encode())
    public = ed25519.Ed25519PublicKey.from_public_bytes(key.x)
    assert ours.kid == b"kid-1" and ours.payload == b"claims" and cose.verify(ours, public)


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_our_messages_verify_with_pycose(alg: str) -> None:
    from pycose.keys import EC2Key, OKPKey
    from pycose.keys.curves import P256, Ed25519
    from pycose.messages import Sign1Message

    signer = _issuer("VN-MC", alg)
    encoded = cose.sign1(b"claims", signer.key, b"kid-2")
    parts = list(cbor2.loads(encoded).value)
    parts[1] = dict(parts[1])  # pycose wants plain lists and dicts (cbor2 6 gives tuple/frozendict)
    msg = Sign1Message.from_cose_obj(parts, True)
    pub = signer.key.public_key()
    if isinstance(pub, ed25519.Ed25519PublicKey):
        msg.key = OKPKey(crv=Ed25519, x=pub.public_bytes_raw())
    else:
        nums = pub.public_numbers()
        msg.key = EC2Key(crv=P256, x=nums.x.to_bytes(32, "big"), y=nums.y.to_bytes(32, "big"))
    assert msg.verify_signature()


def test_id_hash_does_not_reveal_the_pass() -> None:
    h = id_hash(b"\x01" * 16)
    assert h != id_hash(b"\x02" * 16) and "01" * 8 not in h and np.array(list(h.encode())).size == 16


# --- one encoding per pass (issue 11, item 5) -----------------------------------------------------

P256_N = cose.P256_N


def _cose_of(text: str) -> bytes:
    return zlib.decompress(base45.b45decode(text[len(PREFIX):]))


def _high_s(parts: list[object]) -> None:
    sig = parts[3]
    assert isinstance(sig, bytes)
    parts[3] = sig[:32] + (P256_N - int.from_bytes(sig[32:], "big")).to_bytes(32, "big")


def test_bytes_after_the_zlib_stream_are_malformed(issuer: Issuer, trust: TrustList) -> None:
    """Fails on main before issue 11: the pass verified as the genuine one."""
    packed = zlib.compress(_cose_of(_pass(issuer)), 9) + b"\x00junk"
    result = verify(PREFIX + base45.b45encode(packed).decode(), trust, now=NOW)
    assert (result.reason, result.detail) == (Reason.MALFORMED, "bytes after the zlib stream")


def test_bytes_after_the_cose_message_are_malformed(issuer: Issuer, trust: TrustList) -> None:
    """Fails on main before issue 11: the pass verified as the genuine one."""
    result = verify(encode(_cose_of(_pass(issuer)) + b"\x00"), trust, now=NOW)
    assert result.reason is Reason.MALFORMED and result.claims is None


def test_the_high_s_twin_of_an_es256_signature_is_malformed() -> None:
    """Fails on main before issue 11: ``n - s`` verified as the genuine pass."""
    es = _issuer("VN-MC", "ES256")
    trust = TrustList.from_model(TrustListModel(keys=[trusted_key(es.key.public_key(), "VN-MC", KEY_FROM, KEY_TO)]))
    text = _pass(es)
    assert verify(text, trust, now=NOW).ok
    result = verify(_rewrap(text, _high_s), trust, now=NOW)
    assert (result.reason, result.detail) == (Reason.MALFORMED, "ES256 signature not in its low-S form")


def test_es256_passes_are_issued_with_a_low_s() -> None:
    """40 signatures: each would be high-S with probability 1/2 without the normalisation."""
    es = _issuer("VN-MC", "ES256")
    for _ in range(40):
        sig = cbor2.loads(_cose_of(_pass(es))).value[3]
        assert int.from_bytes(sig[32:], "big") <= P256_N // 2


def test_an_ed25519_signature_with_s_plus_l_is_rejected() -> None:
    """RFC 8032 malleability: S + L is refused by the verifier (OpenSSL checks S < L)."""
    ed = _issuer("VN-MC", "EdDSA")
    trust = TrustList.from_model(TrustListModel(keys=[trusted_key(ed.key.public_key(), "VN-MC", KEY_FROM, KEY_TO)]))
    order = 2**252 + 27742317777372353535851937790883648493

    def bump(parts: list[object]) -> None:
        sig = parts[3]
        assert isinstance(sig, bytes)
        s = int.from_bytes(sig[32:], "little") + order
        parts[3] = sig[:32] + s.to_bytes(32, "little")

    assert verify(_rewrap(_pass(ed), bump), trust, now=NOW).reason is Reason.BAD_SIGNATURE


@pytest.mark.parametrize("variant", ["untagged", "long head", "indefinite array", "tag in two bytes"])
def test_other_encodings_of_the_same_cose_message_are_malformed(
        issuer: Issuer, trust: TrustList, variant: str) -> None:
    raw = _cose_of(_pass(issuer))
    assert raw[:2] == b"\xd2\x84"  # tag 18, array of 4
    body = raw[2:]
    other = {"untagged": raw[1:], "long head": b"\xd2\x98\x04" + body, "indefinite array": b"\xd2\x9f" + body + b"\xff",
             "tag in two bytes": b"\xd8\x12\x84" + body}[variant]
    assert cbor2.loads(other) is not None  # each still decodes as CBOR
    assert verify(encode(other), trust, now=NOW).reason is Reason.MALFORMED


def test_a_pass_recompressed_differently_is_the_same_pass(issuer: Issuer, trust: TrustList) -> None:
    """zlib has many encodings of one stream; the pass id (from the signed claims) is what names a pass."""
    text = _pass(issuer)
    again = PREFIX + base45.b45encode(zlib.compress(_cose_of(text), 1)).decode()
    assert again != text
    first, second = verify(text, trust, now=NOW), verify(again, trust, now=NOW)
    assert first.ok and second.ok and first.id_hash == second.id_hash


# --- the site claim (issue 11, item 5) ------------------------------------------------------------

def test_a_pass_for_another_site_is_denied_as_wrong_site(issuer: Issuer, trust: TrustList) -> None:
    result = verify(_pass(issuer, site="dongxing-cn"), trust, now=NOW, site="mong-cai")
    assert result.reason is Reason.WRONG_SITE and DEFAULT_OUTCOMES[result.reason] == "DENY"
    assert verify(_pass(issuer, site="mong-cai"), trust, now=NOW, site="mong-cai").ok


def test_a_pass_without_a_site_claim_is_valid_at_any_crossing(issuer: Issuer, trust: TrustList) -> None:
    assert verify(_pass(issuer, site=None), trust, now=NOW, site="mong-cai").ok
