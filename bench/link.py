"""The partner-gate link: messages signed and verified per second on one core for each suite, and the
end-to-end latency through Mosquitto (TLS, client certificates) with the partner's signed receipts.

    python bench/link.py [--messages 3000] [--latency 300] [--burst 2000] [--repeat 3]

Signing is what a transmission costs the sender (a draft as the outbox holds it -> RFC 8785 form -> signature
-> the JSON on the wire); verifying is what the receiver does before it touches its state (parse, the model,
the key in the trust list, RFC 8785 form, signature). Rates are per second of this process's CPU time on
one thread (the machine is shared: wall-clock rates are printed beside them). End to end: one message at a
time, from the controller's ``send`` (committed to its outbox) to its receipt verified back at the
controller; and a burst of messages sent at once, receipted. Writes its section of BENCHMARKS.md and
prints a JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _report import write_section

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' kit: keys, PKI, broker

from gate_link.canonical import encode, signed
from gate_link.endpoint import Settings
from gate_link.messages import example, time_text
from gate_link.suites import Suite
from gate_link.verify import authenticate
from tests.link_kit import DX, MC, Keys, make_keys, new_link, serving, tls_broker, wait_until

Rates = dict[str, float]


def rate(fn: Callable[[], object], n: int, repeat: int) -> tuple[float, float]:
    """(calls per CPU second, per wall second), the best of ``repeat`` runs of ``n`` calls."""
    best_cpu = best_wall = 0.0
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            fn()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        best_cpu, best_wall = max(best_cpu, n / cpu), max(best_wall, n / wall)
    return best_cpu, best_wall


def suite_rates(suite: Suite, n: int, repeat: int) -> Rates:
    keys = make_keys(suite)
    message = {**example("manifest", time.time()), "from": DX, "to": MC}
    raw = encode(signed({**message, "sent": time_text(time.time())}, keys.dx, validated=True))
    covered = b"x" * 400

    def sign() -> bytes:
        return encode(signed({**message, "sent": time_text(time.time())}, keys.dx, validated=True))

    sig = keys.dx.sign(covered)
    public = keys.dx.public()
    out: Rates = {}
    out["signed"], out["signed_wall"] = rate(sign, n, repeat)
    out["verified"], out["verified_wall"] = rate(lambda: authenticate(raw, keys.trust), n, repeat)
    out["raw_sign"], _ = rate(lambda: keys.dx.sign(covered), n, repeat)
    out["raw_verify"], _ = rate(lambda: public.verify(sig, covered), n, repeat)
    out["bytes"] = len(raw)
    return out


async def end_to_end(directory: Path, latency_n: int, burst_n: int, partner_suite: Suite) -> dict[str, float]:
    broker, pki = tls_broker(directory / "broker")
    broker.start()
    link = new_link(broker, pki, directory / partner_suite, Settings(receipt_timeout_s=10.0))
    keys: Keys = make_keys(partner_suite)
    link.keys = keys
    receipted: dict[str, float] = {}
    try:
        async with serving(link.controller()) as ctl, serving(link.partner().endpoint):
            original = ctl.courier.receipted

            def spy(mid: str) -> None:
                receipted.setdefault(mid, time.perf_counter())
                original(mid)

            ctl.courier.receipted = spy  # type: ignore[method-assign]
            lat = []
            for i in range(latency_n):
                t0 = time.perf_counter()
                mid = await ctl.send("clearance", consignment=f"DX-{i}", version=1, lane="cargo-in-1",
                                     outcome="pass", reasons=["matched"], decided=time_text(time.time()))
                await wait_until(lambda m=mid: m in receipted, 30)
                lat.append((receipted[mid] - t0) * 1000)
            t0 = time.perf_counter()
            ids = await asyncio.gather(*(ctl.send("clearance", consignment=f"B-{i % 500}", version=i + 1,
                                                  lane="cargo-in-1", outcome="pass", reasons=[],
                                                  decided=time_text(time.time())) for i in range(burst_n)))
            await wait_until(lambda: all(m in receipted for m in ids), 300)
            burst_s = time.perf_counter() - t0
    finally:
        broker.stop()
    q = statistics.quantiles(lat, n=100, method="inclusive")
    return {"p50_ms": round(q[49], 2), "p99_ms": round(q[98], 2), "burst_per_s": round(burst_n / burst_s, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=3000, help="messages signed and verified per run")
    ap.add_argument("--latency", type=int, default=300, help="messages sent one at a time for the latency")
    ap.add_argument("--burst", type=int, default=2000, help="messages sent at once for the receipted rate")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    suites: dict[str, Rates] = {}
    for suite in ("ed25519", "sm2"):
        n = args.messages if suite == "ed25519" else max(200, args.messages // 4)
        suites[suite] = suite_rates(suite, n, args.repeat)  # type: ignore[arg-type]
        print(suite, {k: round(v, 1) for k, v in suites[suite].items()}, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        e2e = {s: asyncio.run(end_to_end(Path(tmp), args.latency, args.burst, s)) for s in ("ed25519", "sm2")}
    print("end to end", e2e, flush=True)
    write_section("Partner link (bench/link.py)", "python bench/link.py", body(suites, e2e, args))
    ed, sm = suites["ed25519"], suites["sm2"]
    print(json.dumps({"bench": "link", "verified_per_s": round(ed["verified"]), "signed_per_s": round(ed["signed"]),
                      "sm2_verified_per_s": round(sm["verified"]), "sm2_signed_per_s": round(sm["signed"]),
                      "e2e_ms_p50": e2e["ed25519"]["p50_ms"], "e2e_ms_p99": e2e["ed25519"]["p99_ms"],
                      "e2e_burst_per_s": e2e["ed25519"]["burst_per_s"]}))


def body(suites: dict[str, Rates], e2e: dict[str, dict[str, float]], args: Any) -> str:
    rows = "\n".join(
        f"| {s} | **{r['verified']:,.0f}** ({r['verified_wall']:,.0f}) | **{r['signed']:,.0f}** "
        f"({r['signed_wall']:,.0f}) | {r['raw_verify']:,.0f} | {r['raw_sign']:,.0f} | {r['bytes']:.0f} |"
        for s, r in suites.items())
    lat = "\n".join(f"| {s} | {e['p50_ms']} | {e['p99_ms']} | {e['burst_per_s']:,.0f} |" for s, e in e2e.items())
    return f"""Messages per second on one core (per CPU second of one thread; per wall second in brackets: the
machine is shared). *Verified*: parse, model, trust list, RFC 8785 form, signature - all a receiver does
before its state. *Signed*: a draft to the signed JSON on the wire. *Raw*: the signature alone, over 400 bytes.
A manifest, best of {args.repeat} runs. Issue 13 asks >= 5,000/s verified with Ed25519.

| suite | verified/s | signed/s | raw verify/s | raw sign/s | message bytes |
| --- | --- | --- | --- | --- | --- |
{rows}

End to end through Mosquitto on 127.0.0.1 (TLS, client certificates), controller (Ed25519) to partner (the
suite named) and its signed receipt back, each side committing to SQLite (`synchronous = full`): from the
controller's `send` (in its outbox) to the receipt verified at the controller, {args.latency} messages one
at a time; and {args.burst} sent at once until all are receipted.

| partner suite | e2e p50 ms | e2e p99 ms | burst, receipted/s |
| --- | --- | --- | --- |
{lat}"""


if __name__ == "__main__":
    main()
