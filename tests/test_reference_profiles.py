"""The reference site profiles stay in step with the plugins: every key, kind and value in them is valid;
what `gatecore check` still reports here are the files and secrets only the site controller has (there,
the face plugin then also checks its models and galleries)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gatecore.plugins import make_manager
from gatecore.profile import ProfileError, load_profile

PROFILES = Path(__file__).resolve().parent.parent / "profiles"
#: what `gatecore check` may say about a reference profile away from its site
SITE_ONLY = re.compile(r"(/etc/gatecore/|/opt/gatecore/|/var/lib/gatecore/)\S* ?(cannot be read|does not exist"
                       r"|cannot read|: \[Errno 2\] No such file)|cannot read (/etc|/opt|/var/lib)/gatecore/")


@pytest.mark.parametrize("name", ["bac_luan_1.toml"])
def test_a_reference_profile_lacks_only_what_the_site_controller_holds(name: str) -> None:
    with pytest.raises(ProfileError) as err:
        load_profile(PROFILES / name, make_manager())
    issues = err.value.issues
    assert issues, "a reference profile names files only the site has"
    wrong = [str(i) for i in issues if not SITE_ONLY.search(i.message)]
    assert not wrong, "\n".join(wrong)
    assert {re.split(r"[.\[]", i.path)[0] for i in issues} >= {"plugins", "lanes"}  # both parts were read


def _site_files(root: Path) -> dict[str, str]:
    """What the Bac Luan I controller holds, made under ``root``: keys, certificates, trust lists, models
    and calibrated galleries. Returns the profile's text for each pinned model hash."""
    import datetime as dt
    import json

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.x509.oid import NameOID

    from gate_barcode.trust import TrustListModel, sign_trust_list, trusted_key
    from gate_face import testing
    from gate_face.calibrate import Calibration
    from gate_face.index import EmbeddingIndex
    from gate_face.models import sha256_file
    from gate_face.store import GalleryStore
    from gate_ioc.share import public_text

    etc, models = root / "etc", root / "opt" / "models"
    for folder in (etc / "secrets", etc / "tls", models, root / "var" / "galleries"):
        folder.mkdir(parents=True)
    for name in ("bl1-reader-1.scbk", "bl1-reader-2.scbk"):
        (etc / "secrets" / name).write_text("00112233445566778899aabbccddeeff\n")
    for name in ("ioc-password", "doc-salt", "bl1-cameras"):
        (etc / "secrets" / name).write_text(f"{name}-value\n")
    now = dt.datetime.now(dt.UTC)
    issuer = ed25519.Ed25519PrivateKey.generate()
    root_key = ed25519.Ed25519PrivateKey.generate()  # the pass trust list is signed by a root key
    (etc / "pass-root.pem").write_bytes(root_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (etc / "pass-trust.cose").write_bytes(sign_trust_list(TrustListModel(sequence=1, keys=[
        trusted_key(issuer.public_key(), "VN-QN", now - dt.timedelta(days=1), now + dt.timedelta(days=30))]), root_key))
    (root / "var" / "barcode").mkdir(parents=True)
    (etc / "share-trust.json").write_text(json.dumps({"keys": {"ioc": public_text(issuer)}}))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bac-luan-1")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    for file in ("ioc-ca.pem", "bac-luan-1.pem"):
        (etc / "tls" / file).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (etc / "tls" / "bac-luan-1.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    det = testing.make_yunet_like(models / "face_detection_yunet_2023mar.onnx")
    emb = testing.make_embedder(models / "face_recognition_sface_2021dec.onnx", dim=128, input_name="data",
                                output_name="fc1")
    store = GalleryStore(root / "var" / "galleries")
    for gallery, fmr in (("travellers", 1e-4), ("watchlist", 1e-5), ("residents", 1e-5)):
        store.save(gallery, EmbeddingIndex(128))
        store.save_calibration(gallery, Calibration(fmr, 0.5, 1_000_000, 1000, fmr, 0.01))
    return {det.name: sha256_file(det), emb.name: sha256_file(emb)}


def test_the_reference_profile_with_its_site_files_checks_clean_and_builds_its_site(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """bac_luan_1.toml where its files exist (made here): `check` passes and the site builds, OSDP readers,
    Modbus gates, RTSP cameras, passes, faces and the IOC included (no link is opened)."""
    from .test_core_profile import check

    text = (PROFILES / "bac_luan_1.toml").read_text()
    for model, digest in _site_files(tmp_path).items():
        text = re.sub(rf'({model}", sha256 = ")0{{64}}', rf"\g<1>{digest}", text)
    for old, new in (("/etc/gatecore/", "etc/"), ("/opt/gatecore/models/", "opt/models/"),
                     ("/var/lib/gatecore/ioc-outbox", "var/ioc-outbox"), ("/var/lib/gatecore/", "var/")):
        text = text.replace(old, f"{tmp_path}/{new}")
    path = tmp_path / "bac_luan_1.toml"
    path.write_text(text)
    assert check(path, capsys) == (0, [])
