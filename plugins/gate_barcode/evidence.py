"""The ``barcode.pass`` evidence source: scan -> verify offline -> claimed identity and a verdict."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from gatecore.api import Camera, Evidence, Outcome, Scanned, TransactionContext, error_text

from .config import KIND, NO_INPUT, PassEvidenceConfig
from .passes import DEFAULT_OUTCOMES, PassResult, Reason, verify
from .reader import BarcodeReader, Code, Deduplicator, ReaderError, make_backend
from .state import SiteState, log


def looks_like_pass(text: str) -> bool:
    """A ``GPn:`` text (any version: an unknown one is still a pass to refuse with a reason)."""
    return len(text) > 4 and text.startswith("GP") and text[2].isdigit() and text[3] == ":"


def _is_pass(code: Code) -> bool:
    return not code.is_bytes and looks_like_pass(code.text)


class PassEvidence:
    """One lane's pass source. The reader runs in the default executor; verification is microseconds."""

    def __init__(self, config: PassEvidenceConfig, lane_id: str, state: SiteState) -> None:
        self.source = config.source
        self.config = config
        self.lane_id = lane_id
        self.state = state
        state.groups[(lane_id, config.source)] = config.replay_group
        self.reader = BarcodeReader(backend=make_backend(state.section.backend), budget_ms=state.section.budget_ms)
        self.seen = Deduplicator(state.section.hold_s)  # a pass still held up after its crossing is not a new scan

    async def collect(self, txn: TransactionContext) -> Evidence:
        """A pass read by the reader that started the crossing is verified at once, without waiting (so
        without a task); otherwise the camera and the reader are watched until the deadline."""
        t0 = time.monotonic()
        trigger = txn.trigger
        if isinstance(trigger, Scanned) and trigger.role == self.config.reader:
            return self._checked(txn, trigger.text, "reader", 0, t0)
        text, via, frames = await self._scan(txn)
        if text is None:
            return self._evidence(Outcome.REFER, NO_INPUT, {}, {}, t0)
        return self._checked(txn, text, via, frames, t0)

    def _checked(self, txn: TransactionContext, text: str, via: str, frames: int, t0: float) -> Evidence:
        """Verify the pass offline (signature, validity, site, replay) and turn the result into evidence."""
        state, now = self.state, time.time()
        result = verify(text, state.trust, now=now, leeway_s=state.section.leeway_s, site=state.crossing)
        if result.ok and state.guard.claim(txn.txn_id, result.id_hash, state.place(self.lane_id, self.source), now):
            result = PassResult(Reason.REPLAY, result.id_hash, result.claims, result.kid, "accepted at another lane")
        state.count(result.reason.value)
        log.info("pass_checked", lane=self.lane_id, txn=txn.txn_id, reason=result.reason.value, via=via)
        outcome = Outcome(DEFAULT_OUTCOMES[result.reason].lower())
        claims: dict[str, object] = {"pass_id_hash": result.id_hash}
        if result.ok and result.claims is not None:
            c = result.claims
            claims.update(identity_ref=c.subject, pass_type=c.pass_type, issuer=c.issuer, expires=c.expires)
        summary = {"pass_id_hash": result.id_hash, "reason": result.reason.value, "kid": result.kid,
                   "via": via, "frames": frames}
        return self._evidence(outcome, result.reason.value, claims, summary, t0)

    def _evidence(self, outcome: Outcome, reason: str, claims: Mapping[str, object],
                  summary: Mapping[str, object], t0: float) -> Evidence:
        return Evidence(self.source, KIND, outcome, 1.0, reason, claims, summary,
                        elapsed_ms=(time.monotonic() - t0) * 1000)

    def _codes(self, payload: Any) -> list[Code]:
        """The codes of one observation: a frame, or a burst of them (a list or tuple of frames of one
        crossing, read sharpest first until one holds a pass).  Runs in the executor."""
        if isinstance(payload, list | tuple):
            return self.reader.read_burst(payload, enough=lambda codes: any(_is_pass(c) for c in codes))
        return self.reader.read(payload)

    async def _scan(self, txn: TransactionContext) -> tuple[str | None, str, int]:
        """The pass text: the scan that triggered the crossing, else the first pass the camera sees.

        Loops until a pass is seen; the lane cancels it at this source's deadline.
        """
        trigger = txn.trigger
        if isinstance(trigger, Scanned) and trigger.role == self.config.reader:
            return trigger.text, "reader", 0
        camera = txn.devices.get(self.config.camera) if self.config.camera else None
        if not isinstance(camera, Camera):
            return None, "none", 0
        loop = asyncio.get_running_loop()
        frames = 0
        while True:
            observation = await camera.grab()
            payload = observation.payload
            frames += len(payload) if isinstance(payload, list | tuple) else 1
            try:
                codes = await loop.run_in_executor(None, self._codes, payload)
            except ReaderError as exc:  # a bad frame is dropped, counted and logged, never fatal
                self.state.count("bad_frame")
                log.warning("bad_frame", lane=self.lane_id, role=camera.role, error=error_text(exc))
                codes = []
            passes = [c for c in codes if _is_pass(c)]  # not a container label
            for code in self.seen.fresh(passes, time.monotonic()):
                return code.text, "camera", frames
            await asyncio.sleep(self.config.frame_interval_ms / 1000)
