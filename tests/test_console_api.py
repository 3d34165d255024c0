"""gate_console over HTTP, against a running site: no session, no API; no CSRF token, no action; a role
acts only as far as it may; 10 wrong passwords lock an account for the configured time; an officer's
PASS opens the barrier of that crossing only; every login, failure and refusal is reported and logged
without the account's name."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

import gate_console
from gate_console.accounts import Account, hash_password, read_accounts, write_accounts
from gatecore import logs
from gatecore.api import BarrierPosition, LaneState, Outcome, Site, new_id
from gatecore.testing import Recorder, running, wait_for

from .console_kit import CHEAP, PASSWORDS, Client, console_of, console_site
from .scripted import SCRIPT, Answer


def referring_site(tmp_path: Path) -> tuple[Site, Recorder]:
    """A console site whose lane refers its next crossing to an officer."""
    site, recorder = console_site(tmp_path)
    site.stash.setdefault(SCRIPT, {}).setdefault("a", []).append(Answer(Outcome.REFER))
    return site, recorder


async def referred(site: Site) -> str:
    lane = site.lanes["l1"]
    lane.devices["entry"].set(True)  # type: ignore[attr-defined]
    await wait_for(lambda: lane.state is LaneState.REFERRED)
    assert lane.referral is not None
    return lane.referral.txn_id


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


async def started(site: Site, http: aiohttp.ClientSession) -> Client:
    return Client(f"http://127.0.0.1:{console_of(site).port}", http)


async def logged_in(site: Site, http: aiohttp.ClientSession, name: str = "officer.7") -> Client:
    client = await started(site, http)
    assert await client.login(name) == 303
    return client


def routes(site: Site) -> list[tuple[str, str]]:
    """Every API route of the running console, with its method (so a route added later is tested too)."""
    app = site.stash[gate_console.SERVER].runner.app
    found = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/api/") and route.method in ("GET", "POST"):
            found.append((route.method, path.replace("{lane}", "l1").replace("{fault}", new_id())))
    return found


def kinds(recorder: Recorder) -> list[tuple[str, str | None, str]]:
    return [(e.kind, e.officer, e.reason) for e in recorder.officer_events]


async def test_without_a_session_every_api_route_answers_401(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    site, _ = console_site(tmp_path)
    async with running(site):
        client = await started(site, http)
        found = routes(site)
        assert {m for m, _ in found} == {"GET", "POST"} and len(found) >= 9
        for method, path in found:
            status, body = await client.request(method, path, json={"reason": "seen"})
            assert (path, status) == (path, 401) and body == {"error": "login required"}
        assert (await client.request("GET", "/"))[0] == 303  # the page sends the browser to log in
        client.cookies["gatecore_console"] = "a-guessed-token"
        assert (await client.request("GET", "/api/lanes"))[0] == 401


async def test_an_action_without_the_csrf_token_or_from_another_origin_is_refused_and_reported(
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    site, recorder = referring_site(tmp_path)
    async with running(site):
        client = await logged_in(site, http)
        txn = await referred(site)
        body = {"txn": txn, "outcome": "pass", "reason": "documents_checked"}
        assert (await client.request("POST", "/api/lanes/l1/resolve", csrf=False, json=body))[0] == 403
        wrong = {"X-CSRF-Token": "not-the-token"}
        assert (await client.request("POST", "/api/lanes/l1/resolve", headers=wrong, json=body))[0] == 403
        other = {"Origin": "http://evil.example"}
        assert (await client.request("POST", "/api/lanes/l1/resolve", headers=other, json=body))[0] == 403
        assert site.lanes["l1"].state is LaneState.REFERRED  # nothing was done
        status, page = await client.request("POST", "/login", data={"name": "officer.7", "password": "x"})
        assert status == 403 and "expired" in page  # the login form has its own token
        forged = {"csrf": "tökén", "name": "officer.7", "password": PASSWORDS["officer.7"]}
        assert (await client.request("POST", "/login", data=forged))[0] == 403
    assert kinds(recorder)[1:] == [("action_refused", "officer.7", "no_csrf_token")] * 2 + [
        ("action_refused", "officer.7", "cross_origin")] + [("action_refused", None, "no_csrf_token")] * 2
    assert [c for c in site.lanes["l1"].barrier.commands if c[1] == "open"] == []  # type: ignore[attr-defined]
    assert not [d for d in recorder.decisions if d.officer]


async def test_a_viewer_acts_on_nothing_and_only_a_supervisor_takes_a_lane_to_manual(
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    site, recorder = referring_site(tmp_path)
    async with running(site):
        viewer, officer, supervisor = [await logged_in(site, http, n) for n in ("viewer.1", "officer.7", "super.2")]
        assert (await viewer.request("GET", "/api/lanes"))[0] == 200  # a viewer watches
        txn = await referred(site)
        resolve = {"txn": txn, "outcome": "deny", "reason": "sent_back"}
        manual = {"manual": True, "reason": "maintenance"}
        assert (await viewer.request("POST", "/api/lanes/l1/resolve", json=resolve))[0] == 403
        assert (await viewer.request("POST", f"/api/faults/{new_id()}/ack", json={"reason": "seen"}))[0] == 403
        assert (await officer.request("POST", "/api/lanes/l1/manual", json=manual))[0] == 403
        assert site.lanes["l1"].state is LaneState.REFERRED
        assert (await supervisor.request("POST", "/api/lanes/l1/manual", json=manual)) == (200, {"ok": True})
        await wait_for(lambda: site.lanes["l1"].state is LaneState.MANUAL)
        site.lanes["l1"].devices["entry"].set(False)  # type: ignore[attr-defined]  # the officer sent them away
        back = {"manual": False, "reason": "maintenance"}
        assert (await supervisor.request("POST", "/api/lanes/l1/manual", json=back))[0] == 200
        await wait_for(lambda: site.lanes["l1"].state is LaneState.IDLE)
    refused = [k for k in kinds(recorder) if k[0] == "action_refused"]
    assert refused == [("action_refused", "viewer.1", "not_permitted")] * 2 + [
        ("action_refused", "officer.7", "not_permitted")]
    manual_changes = [(c.new, c.officer) for c in recorder.states if LaneState.MANUAL in (c.old, c.new)]
    assert manual_changes == [(LaneState.MANUAL, "super.2"), (LaneState.IDLE, "super.2")]


async def test_ten_wrong_passwords_lock_the_account_for_the_configured_time(
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    site, recorder = console_site(tmp_path)
    console = console_of(site)
    console.lockouts.lock_s = 3.0  # (the profile's lockout.lock_s; short, for this test)
    async with running(site):
        client = await started(site, http)
        for _ in range(10):
            assert await client.login("officer.7", "wrong-password") == 401
        assert await client.login("officer.7") == 401  # the right password, but locked
        assert await client.login("super.2") == 303  # one account's lock is its own
        await asyncio.sleep(3.0)
        assert await client.login("officer.7") == 303  # the configured time is over
        assert await client.login("nobody", "guess") == 401
    failed = [("login_failed", "officer.7", "wrong_password")] * 10
    assert kinds(recorder) == [*failed, ("locked_out", "officer.7", "too_many_failures"),
                               ("login_failed", "officer.7", "locked"), ("login", "super.2", "supervisor"),
                               ("login", "officer.7", "officer"), ("login_failed", None, "unknown_account")]


async def test_an_officer_pass_over_the_api_opens_the_barrier_for_that_crossing_only(
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    site, recorder = referring_site(tmp_path)
    lane = site.lanes["l1"]
    async with running(site):
        client = await logged_in(site, http)
        txn = await referred(site)
        status, waiting = await client.request("GET", "/api/referrals")
        assert status == 200 and [(r["lane"], r["txn"]) for r in waiting] == [("l1", txn)]
        assert waiting[0]["evidence"][0]["source"] == "a" and waiting[0]["reasons"]
        body = {"txn": txn, "outcome": "pass", "reason": "documents_checked"}
        assert await client.request("POST", "/api/lanes/l1/resolve", json=body) == (200, {"ok": True})
        await wait_for(lambda: lane.barrier.position is BarrierPosition.OPEN)
        status, answer = await client.request("POST", "/api/lanes/l1/resolve", json=body)
        assert status == 409 and "no referral" in answer["error"]
        bad = {**body, "reason": "because I said so"}
        assert (await client.request("POST", "/api/lanes/l1/resolve", json=bad))[0] == 400
    opens = [c for c in lane.barrier.commands if c[1] == "open"]  # type: ignore[attr-defined]
    officers = [(d.txn_id, d.outcome, d.officer) for d in recorder.decisions if d.officer]
    assert len(opens) == 1 and officers == [(txn, Outcome.PASS, "officer.7")]
    assert ("action_refused", "officer.7", "lane_refused") in kinds(recorder)


async def read_events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    event = "message"
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            yield event, json.loads(line[6:])
            event = "message"


async def test_the_stream_pushes_a_snapshot_then_what_changed_and_ends_at_logout(
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    site, _ = referring_site(tmp_path)
    async with running(site):
        client = await logged_in(site, http)
        headers = {"Cookie": f"gatecore_console={client.cookies['gatecore_console']}"}
        async with http.get(client.base + "/api/stream", headers=headers) as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            events = read_events(stream)
            _, first = await anext(events)
            assert first["type"] == "snapshot" and first["lanes"]["l1"]["state"] == "idle"
            txn = await referred(site)
            async with asyncio.timeout(10):
                async for _, delta in events:
                    if any(r["txn"] == txn for r in delta.get("referrals", [])):
                        break
            assert delta["lanes"]["l1"]["state"] == "referred" and delta["lanes"]["l1"]["referral"] == txn
            status, _ = await client.request("POST", "/logout", data={"csrf": client.csrf})
            assert status == 303
            async with asyncio.timeout(10):
                rest = [e async for e in events]  # the stream ends
        assert all(e[1].get("type") != "snapshot" for e in rest)
        assert (await client.request("GET", "/api/lanes"))[0] == 401


async def test_logins_failures_and_actions_are_logged_without_names_or_passwords(
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    out = io.StringIO()
    logs.configure("info", "json", out)
    try:
        site, _ = console_site(tmp_path)
        async with running(site):
            client = await started(site, http)
            assert await client.login("officer.7", "Nguyen-Van-A-1985") == 401
            assert await client.login("Tran Thi B") == 401
            assert await client.login("viewer.1") == 303
            body = {"manual": True, "reason": "maintenance"}
            assert (await client.request("POST", "/api/lanes/l1/manual", json=body))[0] == 403
    finally:
        structlog.reset_defaults()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    console = [(line["event"], line.get("outcome"), line.get("why")) for line in lines
               if line["event"].startswith("console_")]
    assert console[1:] == [("console_login", "failed", None), ("console_login", "failed", None),
                           ("console_login", "ok", None), ("console_action", None, "not_permitted")]
    text = out.getvalue()
    for secret in ("officer.7", "viewer.1", "Nguyen", "Tran Thi", *PASSWORDS.values()):
        assert secret not in text


async def test_an_account_removed_from_the_file_ends_its_sessions_and_one_added_logs_in_without_a_restart(
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    site, _ = console_site(tmp_path)
    path = tmp_path / "accounts.json"
    async with running(site):
        officer = await logged_in(site, http)
        assert (await officer.request("GET", "/api/lanes"))[0] == 200
        accounts = read_accounts(path)
        accounts.pop("officer.7")
        accounts["new.4"] = Account(role="viewer", hash=hash_password("new-password-44", CHEAP))
        write_accounts(path, accounts)
        newcomer = await started(site, http)
        assert await newcomer.login("new.4", "new-password-44") == 303  # the file is read again at a login
        assert (await officer.request("GET", "/api/lanes"))[0] == 401  # and the removed account's session ended
        assert await officer.login("officer.7") == 401


async def test_an_officer_acknowledges_a_fault_on_the_record_and_the_history_filters_by_lane_and_kind(
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    site, recorder = console_site(tmp_path)
    async with running(site):
        client = await logged_in(site, http)
        site.lanes["l1"].devices["barrier"].inject("drop")  # type: ignore[attr-defined]
        await wait_for(lambda: recorder.faults)
        site.lanes["l1"].devices["barrier"].inject(None)  # type: ignore[attr-defined]
        fault = recorder.faults[0]
        await wait_for(lambda: fault.stamp.id in console_of(site).hub.faults)
        status, faults = await client.request("GET", "/api/faults")
        assert status == 200 and [(f["id"], f["lane"], f["fault"]) for f in faults] == [
            (fault.stamp.id, "l1", "device_offline")]
        status, events = await client.request("GET", "/api/events?lane=l1&kind=fault")
        assert status == 200 and [e["id"] for e in events] == [fault.stamp.id]
        assert {e["kind"] for e in (await client.request("GET", "/api/events?kind=officer"))[1]} == {"officer"}
        ack = f"/api/faults/{fault.stamp.id}/ack"
        assert (await client.request("POST", ack, json={"reason": "whatever I like"}))[0] == 400
        assert await client.request("POST", ack, json={"reason": "fixed"}) == (200, {"ok": True})
        assert (await client.request("POST", ack, json={"reason": "fixed"}))[0] == 404  # once
        assert (await client.request("GET", "/api/faults"))[1] == []
    acknowledged = [e for e in recorder.officer_events if e.kind == "fault_acknowledged"]
    assert [(e.stamp.lane_id, e.officer, e.reason, e.ref) for e in acknowledged] == [
        ("l1", "officer.7", "fixed", fault.stamp.id)]
