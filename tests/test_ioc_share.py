"""Shared state between two controllers through a real Mosquitto broker: signed, in order, retained
snapshots for late joiners, and forged or tampered messages refused."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gate_ioc import REPORTER, share
from gate_ioc.payloads import shared_topic
from gate_ioc.reporter import Sharing
from gate_ioc.testing import Broker
from gatecore.api import LaneState, ProfileError, SharedState, Site, hookimpl
from gatecore.testing import make_site, running, wait_for

NAME = "test/watchlist"


@dataclass(eq=False)
class Holder:
    """A plugin that owns the shared state named ``test/...`` and keeps what it is asked to apply."""

    applied: list[SharedState] = field(default_factory=list)
    version: int = 0

    @hookimpl
    def gatecore_apply_state(self, site: Site, update: SharedState) -> bool | None:
        if not update.name.startswith("test/"):
            return None
        if update.kind == "delta" and update.base_version != self.version:
            return False
        self.applied.append(update)
        self.version = update.version
        return True


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "mosquitto", durable_sessions=False)
    b.start()
    yield b
    b.stop()


def pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """Signing keys of sites a and b, and a trust list of both."""
    out, trusted = {}, {}
    for kid in ("a", "b"):
        key = Ed25519PrivateKey.generate()
        out[kid] = tmp_path / f"{kid}.pem"
        out[kid].write_bytes(pem(key))
        trusted[f"site-{kid}"] = share.public_text(key)
    out["trust"] = tmp_path / "trust.json"
    out["trust"].write_text(json.dumps({"keys": trusted}))
    return out


LANE = """
[[lanes]]
id = "l1"
devices = [{ kind = "sim.presence", role = "entry" }, { kind = "sim.barrier", role = "barrier", travel_ms = 0 }]
"""


def controller(tmp_path: Path, broker: Broker, keys: dict[str, Path], who: str) -> tuple[Site, Holder]:
    directory = tmp_path / who
    directory.mkdir(exist_ok=True)
    text = f"""
[site]
id = "mong-cai/{who}"
[plugins.gate_sim]
traffic = false
[plugins.gate_ioc]
transport = "mqtt"
broker = "mqtt://127.0.0.1:{broker.port}"
client_id = "test-{who}"
heartbeat_s = 60
outbox = {{ path = "{directory / 'box.sqlite'}", synchronous = "normal" }}
share = {{ trusted_keys = "{keys['trust']}", signing_key = "file:{keys[who]}", key_id = "site-{who}" }}
""" + LANE
    holder = Holder()
    site, _ = make_site(text, directory, plugins={"holder": holder})
    return site, holder


def sharing(site: Site) -> Sharing:
    sharing = site.stash[REPORTER].sharing
    assert sharing is not None
    return sharing


async def connected(site: Site) -> None:
    """Until the site's reporter has subscribed (its transport is connected)."""
    await wait_for(lambda: REPORTER in site.stash and site.stash[REPORTER].connected(), timeout=10)


async def share_and_stop(site: Site, *snapshots: tuple[int, bytes]) -> None:
    """Run ``site`` until it has delivered these snapshots (version, payload) of NAME, then stop it."""
    async with running(site):
        await connected(site)
        for version, payload in snapshots:
            await site.share_state(SharedState(site.id, NAME, "snapshot", 0, version, payload))
        assert await site.stash[REPORTER].outbox.wait_idle(10)


async def test_a_snapshot_and_deltas_from_one_controller_are_applied_in_order_by_the_other(
    tmp_path: Path, broker: Broker, keys: dict[str, Path]
) -> None:
    a, held_a = controller(tmp_path, broker, keys, "a")
    b, held_b = controller(tmp_path, broker, keys, "b")
    async with running(a), running(b):
        await connected(a)
        await connected(b)
        await a.share_state(SharedState(a.id, NAME, "snapshot", 0, 1, b"\x00snapshot"))
        for version in range(2, 12):
            await a.share_state(SharedState(a.id, NAME, "delta", version - 1, version, bytes([version]) * 1000))
        await wait_for(lambda: held_b.version == 11, timeout=15)
        assert all(lane.state is LaneState.IDLE for lane in b.lanes.values())
    assert [u.version for u in held_b.applied] == list(range(1, 12))
    assert held_b.applied[0].payload == b"\x00snapshot" and held_b.applied[-1].payload == b"\x0b" * 1000
    assert held_a.applied == []  # its own updates come back from the broker and are not applied again
    assert sharing(b).refused == 0


async def test_a_controller_that_connects_later_gets_the_latest_snapshot(
    tmp_path: Path, broker: Broker, keys: dict[str, Path]
) -> None:
    await share_and_stop(controller(tmp_path, broker, keys, "a")[0], (4, b"old"), (5, b"latest"))
    b, held_b = controller(tmp_path, broker, keys, "b")
    async with running(b):
        await wait_for(lambda: held_b.applied, timeout=10)
    assert [(u.version, u.payload) for u in held_b.applied] == [(5, b"latest")]


async def test_forged_tampered_and_malformed_messages_are_refused_and_counted(
    tmp_path: Path, broker: Broker, keys: dict[str, Path]
) -> None:
    b, held_b = controller(tmp_path, broker, keys, "b")
    stranger = Ed25519PrivateKey.generate()
    genuine = share.load_signer(keys["a"].read_text())
    update = SharedState("mong-cai/a", NAME, "snapshot", 0, 9, b"payload")
    forged = share.sign(update, stranger, "site-a")  # a trusted key id, the wrong key
    unknown = share.sign(update, stranger, "somebody")
    tampered = json.loads(share.sign(update, genuine, "site-a"))
    tampered["state"]["payload"] = base64.b64encode(b"other").decode()
    misnamed = share.sign(SharedState("mong-cai/a", "test/other", "snapshot", 0, 9, b"x"), genuine, "site-a")
    topic = shared_topic("gatecore/v1", NAME)
    async with running(b):
        await connected(b)
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            for message in (forged, unknown, json.dumps(tampered).encode(), misnamed, b"\xff not json", b"{}"):
                await client.publish(topic, message, qos=1)
            await client.publish(topic, share.sign(update, genuine, "site-a"), qos=1)  # the genuine one, last
        await wait_for(lambda: held_b.applied, timeout=10)
        assert all(lane.state is LaneState.IDLE for lane in b.lanes.values())
    assert sharing(b).refused == 6
    assert [(u.version, u.payload) for u in held_b.applied] == [(9, b"payload")]


def test_the_wire_message_matches_its_schema_and_is_refused_once_altered(keys: dict[str, Path]) -> None:
    import jsonschema

    schema = json.loads((Path(share.__file__).parent / "schemas" / "shared_state-1.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    key = share.load_signer(keys["a"].read_text())
    trusted = share.load_trusted(keys["trust"])
    message = share.sign(SharedState("mong-cai/a", NAME, "delta", 3, 4, bytes(range(256))), key, "site-a")
    jsonschema.Draft202012Validator(schema).validate(json.loads(message))
    assert share.verify(message, trusted, "test.watchlist").payload == bytes(range(256))
    for field_name, value in (("version", 5), ("base_version", 2), ("kind", "snapshot"), ("site", "x")):
        altered = json.loads(message)
        altered["state"][field_name] = value
        with pytest.raises(share.Refused, match="bad signature"):
            share.verify(json.dumps(altered).encode(), trusted, "test.watchlist")


@pytest.mark.parametrize(("share_text", "message"), [
    ('{{ trusted_keys = "{missing}" }}', "trust list"),
    ('{{ trusted_keys = "{trust}", signing_key = "file:{key}" }}', "signing_key and key_id go together"),
    ('{{ trusted_keys = "{trust}", signing_key = "file:{trust}", key_id = "x" }}', "not a PEM private key"),
])
def test_bad_share_settings_are_check_errors(tmp_path: Path, keys: dict[str, Path], share_text: str,
                                             message: str) -> None:
    section = share_text.format(missing=tmp_path / "nope.json", trust=keys["trust"], key=keys["a"])
    text = (f'[site]\nid = "s"\n[plugins.gate_ioc]\ntransport = "mqtt"\nbroker = "mqtt://127.0.0.1:1"\n'
            f"share = {section}\n")
    with pytest.raises(ProfileError) as err:
        make_site(text + LANE, tmp_path)
    assert message in str(err.value)


def test_share_needs_the_mqtt_transport(tmp_path: Path, keys: dict[str, Path]) -> None:
    text = f'[site]\nid = "s"\n[plugins.gate_ioc]\nshare = {{ trusted_keys = "{keys["trust"]}" }}\n'
    with pytest.raises(ProfileError) as err:
        make_site(text + LANE, tmp_path)
    assert "needs transport 'mqtt'" in str(err.value)


async def test_a_face_watchlist_travels_between_two_controllers_over_the_broker(
    tmp_path: Path, broker: Broker, keys: dict[str, Path]
) -> None:
    """gate_face and gate_ioc together: a watchlist change on one controller reaches the other."""
    import numpy as np

    from gate_face import share as face_share
    from gate_face.plugin import FACE
    from gate_face.store import GalleryStore
    from gatecore.profile import load_profile

    from .test_face_site import enroll, manager, write_profile

    sites = []
    for who in ("a", "b"):
        directory = tmp_path / who
        directory.mkdir()
        profile = write_profile(directory, 3)
        enroll(directory)
        text = profile.read_text().replace("arrivals_per_min = 600", "traffic = false")
        profile.write_text(text.replace('id = "test/face"', f'id = "test/face-{who}"') + f"""
[plugins.gate_ioc]
transport = "mqtt"
broker = "mqtt://127.0.0.1:{broker.port}"
client_id = "face-{who}"
outbox = {{ path = "{directory / 'box.sqlite'}", synchronous = "normal" }}
share = {{ trusted_keys = "{keys['trust']}", signing_key = "file:{keys[who]}", key_id = "site-{who}" }}
""")
        pm = manager()
        sites.append(Site(load_profile(profile, pm), pm))
    a, b = sites
    watch_a = a.stash[FACE].engine.galleries["watchlist"].index
    watch_b = b.stash[FACE].engine.galleries["watchlist"].index
    rng = np.random.default_rng(7)
    async with running(a, timeout=30), running(b, timeout=30):
        await connected(a)
        await connected(b)
        watch_a.add(["wl-new-1", "wl-new-2"], rng.normal(size=(2, 512)).astype(np.float32))
        await a.share_state(face_share.snapshot(a, "watchlist", watch_a))
        await wait_for(lambda: watch_b.version == watch_a.version, timeout=15)
        since = watch_a.version
        watch_a.remove(["wl-new-1"])
        await a.share_state(face_share.delta(a, "watchlist", watch_a, since))
        await wait_for(lambda: watch_b.version == watch_a.version, timeout=15)
    assert sorted(watch_b.ids()) == sorted(watch_a.ids())
    np.testing.assert_allclose(watch_b.vector("wl-new-2"), watch_a.vector("wl-new-2"), atol=1e-6)  # renormalised
    assert sharing(b).refused == 0 and sharing(b).not_applied == 0
    on_disk = GalleryStore(tmp_path / "b" / "galleries").load("watchlist", verify=True)  # what a restart loads
    assert sorted(on_disk.ids()) == sorted(watch_a.ids()) and on_disk.version == watch_a.version


async def test_after_a_restart_a_controller_does_not_take_back_its_own_retained_snapshot(
    tmp_path: Path, broker: Broker, keys: dict[str, Path]
) -> None:
    a, held_a = controller(tmp_path, broker, keys, "a")
    await share_and_stop(a, (6, b"before the restart"))
    again, held_again = controller(tmp_path, broker, keys, "a")  # the same controller, started again
    b, held_b = controller(tmp_path, broker, keys, "b")
    async with running(again), running(b):
        await wait_for(lambda: held_b.applied, timeout=10)  # the retained snapshot is there to be had
        await connected(again)
        await asyncio.sleep(0.2)
    assert held_again.applied == [] and held_a.applied == []
    assert [u.payload for u in held_b.applied] == [b"before the restart"]
