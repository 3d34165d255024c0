"""`gatecore check` of a [plugins.gate_link] section: everything that needs no broker is checked at load, each
problem at its line and key; a whole mqtt section with real files loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gate_link.canonical import encode
from gate_link.config import LinkSection
from gatecore import cli

from .link_kit import make_keys
from .tls_kit import make_pki


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    keys, other = make_keys(), make_keys()
    (tmp_path / "mc.key").write_bytes(keys.mc.pem())
    (tmp_path / "trust.json").write_bytes(encode(keys.document))
    (tmp_path / "root.pub").write_bytes(keys.root.public().pem())
    (tmp_path / "other-root.pub").write_bytes(other.root.public().pem())
    (tmp_path / "not-a-key").write_text("hello\n")
    pki = make_pki(tmp_path / "pki", clients=("mong-cai",))
    return {"key": str(tmp_path / "mc.key"), "trust": str(tmp_path / "trust.json"), "root": str(tmp_path / "root.pub"),
            "other_root": str(tmp_path / "other-root.pub"), "junk": str(tmp_path / "not-a-key"), "ca": pki["ca"],
            "cert": pki["mong-cai"], "tls_key": pki["mong-cai_key"], "state": str(tmp_path / "state")}


def section(f: dict[str, str], **changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "transport": "mqtt", "broker": "mqtts://127.0.0.1:8883", "signing_key": f"file:{f['key']}", "key_id": "mc-1",
        "trust_list": f["trust"], "trust_root": f["root"], "state_dir": f["state"],
        "tls": {"ca_file": f["ca"], "cert_file": f["cert"], "key_file": f["tls_key"]}}
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def test_a_whole_mqtt_section_with_its_files_loads(files: dict[str, str]) -> None:
    cfg = LinkSection.model_validate(section(files))
    assert cfg.endpoint() == ("127.0.0.1", 8883)


@pytest.mark.parametrize(("changes", "message"), [
    ({"tls": None, "trust_root": None}, "transport 'mqtt' needs tls, trust_root"),
    ({"broker": "https://127.0.0.1"}, "expected mqtts://host[:port]"),
    ({"signing_key": "env:GATECORE_NO_SUCH_VARIABLE"}, "GATECORE_NO_SUCH_VARIABLE is not set"),
    ({"signing_key": "-----BEGIN PRIVATE KEY-----"}, "secrets are never written in a profile"),
    ({"signing_key": "file:{junk}"}, "signing_key: not a PEM private key"),
    ({"trust_root": "{other_root}"}, "does not verify with the trust root"),
    ({"trust_root": "{junk}"}, "not a PEM public key"),
    ({"transport": "local"}, "transport 'local' signs with keys made at start"),
    ({"simulator": {"trucks": 3}}, "the partner simulator runs with transport 'local' only"),
    ({"tls": {"ca_file": "{junk}", "cert_file": "{cert}"}}, "do not load"),
    ({"partner": "mong-cai"}, "party and partner are the same"),
], ids=["mqtt-needs-files", "broker-url", "env-unset", "secret-in-profile", "not-a-key", "other-root", "root-junk",
        "local-with-keys", "simulator-mqtt", "tls-junk", "same-party"])
def test_a_section_that_could_not_run_is_refused_saying_why(files: dict[str, str], changes: dict[str, object],
                                                           message: str) -> None:
    def fill(value: object) -> object:
        if isinstance(value, str):
            return value.format(**files)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    data = section(files, **{k: fill(v) for k, v in changes.items()})
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("(", r"\(")):
        LinkSection.model_validate(data)


def test_check_reports_the_line_of_the_problem(tmp_path: Path, files: dict[str, str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "site.toml"
    profile.write_text(f"""[site]
id = "mong-cai/bac-luan-2"

[plugins.gate_link]
transport = "mqtt"
broker = "mqtts://127.0.0.1:8883"
signing_key = "file:{files['junk']}"
key_id = "mc-1"
""")
    assert cli.main(["check", str(profile)]) == 2
    out = capsys.readouterr().out
    assert "site.toml:4:10: plugins.gate_link: transport 'mqtt' needs tls, trust_list, trust_root" in out, out
