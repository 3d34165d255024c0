"""gate_console without a browser: `gatecore check` refuses, with file, line and key, what the console
would (a listen address of every or of another machine, TLS files that do not load, an accounts file that
cannot be read or is not well formed); `gatecore console user` writes argon2 hashes, never a password;
with TLS from the profile the console speaks HTTPS only, with a cookie for this host alone."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import stat
from pathlib import Path

import aiohttp
import argon2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gate_console.accounts import Accounts, Lockouts, read_accounts
from gate_console.sessions import Sessions
from gatecore import cli
from gatecore.testing import running

from .conftest import SITE
from .console_kit import OFFICER_LANE, Client, console_of, console_site, write_test_accounts


def check(tmp_path: Path, section: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "site.toml"
    path.write_text(SITE + "[plugins.gate_console]\n" + section + "\n" + OFFICER_LANE.replace(
        'kind = "scripted"', 'kind = "sim.evidence"'))
    code = cli.main(["check", str(path)])
    return code, capsys.readouterr().out


@pytest.mark.parametrize(("section", "key", "message"), [
    ('listen = "0.0.0.0:8780"\ndemo_account = {{}}', "listen", "every address of the machine"),
    ('listen = "192.0.2.10:8780"\ndemo_account = {{}}', "listen", "192.0.2.10 is not an address of this machine"),
    ('listen = "console.local:8780"\ndemo_account = {{}}', "listen", "the host must be an IP address"),
    ('listen = "127.0.0.1:8780"', "gate_console", "no accounts"),
    ('accounts = "{tmp}/none.json"', "accounts", "does not exist (make it with `gatecore console user add"),
    ('accounts = "{tmp}/bad.json"', "accounts", "bad.json:3:5: not JSON"),
    ('accounts = "{tmp}/role.json"', "accounts", "accounts.officer.7.role: Input should be 'viewer', 'officer'"),
    ('accounts = "{tmp}/plain.json"', "accounts", "accounts.officer.7.hash: not an argon2 hash"),
    ('demo_account = {{}}\ntls = {{ cert_file = "{tmp}/none.pem", key_file = "{tmp}/none.key" }}', "tls",
     "TLS certificate {tmp}/none.pem does not exist"),
    ('demo_account = {{}}\ntls = {{ cert_file = "{tmp}/bad.json", key_file = "{tmp}/bad.json" }}', "tls",
     "TLS certificate and key do not load"),
])
def test_check_refuses_what_the_console_would_at_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, key: str, message: str,
) -> None:
    (tmp_path / "bad.json").write_text('{\n  "schema": "gate_console.accounts/1",\n    accounts: {}\n}')
    (tmp_path / "role.json").write_text(json.dumps(
        {"schema": "gate_console.accounts/1", "accounts": {"officer.7": {"role": "chief", "hash": "x"}}}))
    (tmp_path / "plain.json").write_text(json.dumps(
        {"schema": "gate_console.accounts/1", "accounts": {"officer.7": {"role": "officer", "hash": "hunter2"}}}))
    code, out = check(tmp_path, section.format(tmp=tmp_path), capsys)
    assert code == 2
    line = next(line for line in out.splitlines() if "gate_console" in line)
    assert f"{tmp_path}/site.toml:" in line and f"plugins.gate_console{'.' + key if key != 'gate_console' else ''}" \
        in line and message.format(tmp=tmp_path) in line


@pytest.mark.usefixtures("demo_assets")
def test_check_takes_the_demo_profile_and_a_good_accounts_file(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    accounts = write_test_accounts(tmp_path / "accounts.json")
    assert check(tmp_path, f'accounts = "{accounts}"', capsys)[0] == 0
    assert cli.main(["check", "profiles/demo.toml"]) == 0


def test_user_add_writes_an_argon2_hash_readable_by_its_owner_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "var" / "accounts.json"
    monkeypatch.setenv("NEW_PW", "a-long-enough-password")
    assert cli.main(["console", "user", "add", "officer.9", "--role", "officer", "--accounts", str(path),
                     "--password-env", "NEW_PW"]) == 0
    (tmp_path / "pw").write_text("another-long-password\n")
    assert cli.main(["console", "user", "add", "view.3", "--role", "viewer", "--accounts", str(path),
                     "--password-file", str(tmp_path / "pw")]) == 0
    text = path.read_text()
    assert "a-long-enough-password" not in text and "another-long-password" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    accounts = Accounts(path)
    assert accounts.verify("officer.9", "a-long-enough-password") == read_accounts(path)["officer.9"]
    assert accounts.verify("officer.9", "wrong") is None and accounts.verify("view.3", "another-long-password")
    assert argon2.extract_parameters(read_accounts(path)["view.3"].hash).type is argon2.Type.ID
    capsys.readouterr()
    assert cli.main(["console", "user", "list", "--accounts", str(path)]) == 0
    assert capsys.readouterr().out.split() == ["officer.9", "officer", "view.3", "viewer"]


@pytest.mark.parametrize(("args", "why"), [
    (["Officer Nine", "--role", "officer", "--password-env", "NEW_PW"], "officer must be an account id"),
    (["officer.9", "--role", "officer", "--password-env", "NEW_PW"], "exists (--replace"),
    (["officer.8", "--role", "officer", "--password-env", "SHORT_PW"], "at least 12 characters"),
    (["officer.8", "--role", "officer", "--password-env", "UNSET_PW_GATECORE"], "UNSET_PW_GATECORE is not set"),
    (["officer.8", "--role", "officer"], "no terminal to ask for the password"),
])
def test_user_add_refuses_with_a_reason_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str], why: str,
) -> None:
    path = tmp_path / "accounts.json"
    monkeypatch.setenv("NEW_PW", "a-long-enough-password")
    monkeypatch.setenv("SHORT_PW", "short")
    assert cli.main(["console", "user", "add", "officer.9", "--role", "officer", "--accounts", str(path),
                     "--password-env", "NEW_PW"]) == 0
    before = path.read_text()
    capsys.readouterr()
    assert cli.main(["console", "user", "add", *args, "--accounts", str(path)]) == 2
    assert why in capsys.readouterr().err and path.read_text() == before
    assert cli.main(["console", "user", "remove", "officer.9", "--accounts", str(path)]) == 0
    assert read_accounts(path) == {}


def test_a_lock_counts_wrong_passwords_in_a_row_and_ends_after_its_time() -> None:
    now = [0.0]
    locks = Lockouts(failures=3, lock_s=60, clock=lambda: now[0])
    assert [locks.failed("a") for _ in range(2)] == [False, False]
    locks.succeeded("a")  # a right password starts the count again
    assert [locks.failed("a") for _ in range(3)] == [False, False, True]
    assert locks.locked("a") and not locks.locked("b")
    now[0] = 59.9
    assert locks.locked("a")
    now[0] = 60.0
    assert not locks.locked("a") and not locks.failed("a")  # a fresh count after the lock


def _tls_files(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "console.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False).sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "console.pem", tmp_path / "console.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def test_with_tls_from_the_profile_the_console_speaks_https_only(tmp_path: Path) -> None:
    cert_file, key_file = _tls_files(tmp_path)
    site, recorder = console_site(tmp_path, f'tls = {{ cert_file = "{cert_file}", key_file = "{key_file}" }}')
    trust = ssl.create_default_context(cafile=str(cert_file))
    async with running(site), aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        port = console_of(site).port
        client = Client(f"https://127.0.0.1:{port}", http)
        client.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust),
                                            timeout=aiohttp.ClientTimeout(total=20))
        async with client.http:
            assert await client.login("officer.7") == 303
            assert list(client.cookies) == ["__Host-gatecore_console"]
            async with client.http.get(client.base + "/login") as page:
                assert page.headers["Strict-Transport-Security"].startswith("max-age=")
        with pytest.raises(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{port}/login") as plain:
                await plain.read()
    assert [e.kind for e in recorder.officer_events] == ["login"]


def test_a_session_ends_after_its_idle_time_its_whole_time_or_at_logout() -> None:
    now = [0.0]
    sessions = Sessions(idle_s=10, max_s=25, clock=lambda: now[0])
    a, b = sessions.open("officer.7", "officer"), sessions.open("viewer.1", "viewer")
    assert a.token != b.token and a.csrf != b.csrf and a.may("viewer") and not b.may("officer")
    now[0] = 9.0
    assert sessions.get(a.token) is a  # a request: its idle time starts again
    assert sessions.get(b.token, touch=False) is b  # watching is not a request
    now[0] = 18.0
    assert sessions.get(b.token) is None and sessions.get(a.token) is a
    now[0] = 25.0
    assert sessions.get(a.token) is None  # 25 s after login, however busy
    c = sessions.open("officer.7", "officer")
    sessions.close(c.token)
    assert sessions.get(c.token) is None and sessions.get("guessed") is None
