"""The OSDP control panel: polls the PDs on one RS-485 bus, sends their commands, reports their events.

One task owns the bus (OSDP is half duplex and only the CP speaks first). It walks the PDs in turn:
a PD that is not connected is (re)connected -- sequence 0, osdp_ID, osdp_CAP, then the secure channel
handshake -- a PD with a queued command gets it, any other PD gets osdp_POLL and its reply may carry an
event (card read, keypad, input/output/tamper status).

Retries and the "never twice" rule:

* a frame that gets no valid reply is re-sent *byte for byte* (same sequence number, same MAC) up to
  ``retries`` times; a PD that already acted on it answers with its cached reply and does not act again
  (for a PD that acts again instead, :attr:`PdConfig.resend_commands` turns this off for commands that act);
* a NAK that proves the PD did not act (bad check value, sequence error, secure channel lost, in answer
  to the *first* copy of the frame) leads to a reconnect and a fresh attempt, at most
  ``command_attempts`` in all; the same NAK in answer to a re-sent copy proves nothing (a PD that does
  not cache its last reply, as libosdp 3.2.9, NAKs the copy of a command it already executed);
* a command whose outcome is unknown (no reply after the retries) is reported as :class:`LinkTimeout`
  and never re-sent by the control panel: the caller reads the state back and decides.

``offline_after`` consecutive failed transactions take a PD offline (:class:`PdOffline` event); it is
then reconnected with exponential backoff and reported :class:`PdOnline` when it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Self

from firmware_bridge.errors import CommandRejected, LinkError, LinkTimeout, PeerOffline
from firmware_bridge.osdp.frame import (
    SCS_CHLNG,
    SCS_CMD_ENC,
    SCS_CMD_MAC,
    SCS_REPLY_ENC,
    SCS_SCRYPT,
    Frame,
    encode_frame,
)
from firmware_bridge.osdp.messages import (
    BuzzerCommand,
    Capability,
    Cmd,
    LedCommand,
    MessageError,
    NakCode,
    OutputCommand,
    PdCapability,
    PdEvent,
    PdId,
    Reply,
    TextCommand,
    decode_event,
    decode_nak,
    decode_pdcap,
    decode_pdid,
    keyset_data,
)
from firmware_bridge.osdp.port import FramePort
from firmware_bridge.osdp.secure import SCBK_DEFAULT, SecureChannelError, SecureSession

log = logging.getLogger(__name__)

_NOT_ACTED = frozenset({NakCode.CHECK, NakCode.SEQUENCE, NakCode.SC_UNSUPPORTED, NakCode.SC_REQUIRED})
_NO_EFFECT = frozenset({Cmd.POLL, Cmd.ID, Cmd.CAP, Cmd.LSTAT, Cmd.ISTAT, Cmd.OSTAT, Cmd.RSTAT})  # safe to repeat


@dataclass(frozen=True, slots=True)
class PdConfig:
    address: int
    secure: bool = False
    scbk: bytes | None = None  # the PD's key; None with secure=True means SCBK-D (install mode)
    install_mode: bool = False  # connect with SCBK-D and provision ``scbk`` by osdp_KEYSET
    # Re-send a command frame whose reply was lost. The standard has the PD answer a repeated sequence
    # number with its last reply, without acting again; a PD that acts twice instead (libosdp 3.2.9 without
    # secure channel) needs this off: its actuating commands then get one try, and a lost reply is an error.
    resend_commands: bool = True


@dataclass(frozen=True, slots=True)
class PdOnline:
    address: int
    pd_id: PdId
    secure: bool


@dataclass(frozen=True, slots=True)
class PdOffline:
    address: int
    reason: str


CpEvent = PdEvent | PdOnline | PdOffline
Listener = Callable[[CpEvent], None]


@dataclass(slots=True)
class LinkStats:
    transactions: int = 0
    polls: int = 0
    retries: int = 0  # frames re-sent after a missing or bad reply
    timeouts: int = 0  # transactions that failed after all retries
    naks: int = 0
    bad_replies: int = 0  # checked frames whose body, MAC or padding was wrong
    reconnects: int = 0


class _Recoverable(LinkError):
    """The PD did not act on the command and the session must be rebuilt: safe to send again."""


@dataclass(slots=True)
class _Request:
    code: int
    data: bytes
    future: asyncio.Future[tuple[int, bytes]]


@dataclass(slots=True)
class _Pd:
    cfg: PdConfig
    seq: int = 0
    ready: bool = False
    online: bool = False
    announced: bool = False  # an online or offline event was emitted for this PD
    session: SecureSession | None = None
    scbk: bytes | None = None
    install_mode: bool = False
    pd_id: PdId | None = None
    caps: tuple[PdCapability, ...] = ()
    missed: int = 0
    retry_at: float = 0.0
    backoff: float = 0.0
    queue: deque[_Request] = field(default_factory=deque)

    def next_seq(self) -> int:
        seq = self.seq
        self.seq = 1 if seq == 3 else seq + 1
        return seq


class ControlPanel:
    """``async with ControlPanel(url, pds) as cp:`` runs the bus; commands are ``await``-ed methods."""

    def __init__(
        self,
        url: str,
        pds: Sequence[PdConfig],
        *,
        baudrate: int = 115200,
        reply_timeout: float = 0.2,
        retries: int = 3,
        command_attempts: int = 2,
        offline_after: int = 3,
        poll_interval: float = 0.05,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
    ) -> None:
        if len({p.address for p in pds}) != len(pds):
            raise ValueError("two PDs share an address")
        self.url = url
        self.baudrate = baudrate
        self.reply_timeout = reply_timeout
        self.retries = retries
        self.command_attempts = command_attempts
        self.offline_after = offline_after
        self.poll_interval = poll_interval
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stats = LinkStats()
        self._pds = {p.address: _new_pd(p) for p in pds}
        self._listeners: list[Listener] = []
        self._port: FramePort | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"osdp-cp {self.url}")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._port is not None:
            self._port.close()
            self._port = None
        for pd in self._pds.values():
            _fail_queue(pd, PeerOffline("control panel closed"))

    def add_listener(self, listener: Listener) -> None:
        """``listener(event)`` is called on the event loop for every PD event and online/offline change."""
        self._listeners.append(listener)

    @property
    def parse_stats(self) -> tuple[int, int, int]:
        """(frames, bad frames, skipped bytes) seen by the current port's parser."""
        if self._port is None:
            return (0, 0, 0)
        s = self._port.parser.stats
        return (s.frames, s.bad_frames, s.skipped_bytes)

    def is_online(self, address: int) -> bool:
        return self._pd(address).online

    def is_secure(self, address: int) -> bool:
        session = self._pd(address).session
        return session is not None and session.active

    def pd_id(self, address: int) -> PdId | None:
        return self._pd(address).pd_id

    def capabilities(self, address: int) -> tuple[PdCapability, ...]:
        return self._pd(address).caps

    async def wait_online(self, address: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_online(address):
            if time.monotonic() > deadline:
                raise LinkTimeout(f"PD {address} did not come online within {timeout} s")
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------------ commands

    async def command(self, address: int, code: int, data: bytes = b"", timeout: float = 5.0) -> tuple[int, bytes]:
        """Queue a command for ``address``; return (reply code, decrypted reply data)."""
        pd = self._pd(address)
        if not pd.online:
            raise PeerOffline(f"PD {address} is offline")
        future: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        pd.queue.append(_Request(code, data, future))
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError as exc:
            raise LinkTimeout(f"command 0x{code:02x} to PD {address} not done within {timeout} s") from exc

    async def output(self, address: int, cmd: OutputCommand) -> None:
        await self._expect_ack(address, Cmd.OUT, cmd.encode())

    async def led(self, address: int, cmd: LedCommand) -> None:
        await self._expect_ack(address, Cmd.LED, cmd.encode())

    async def buzzer(self, address: int, cmd: BuzzerCommand) -> None:
        await self._expect_ack(address, Cmd.BUZ, cmd.encode())

    async def text(self, address: int, cmd: TextCommand) -> None:
        await self._expect_ack(address, Cmd.TEXT, cmd.encode())

    async def input_status(self, address: int) -> tuple[int, ...]:
        return await self._status(address, Cmd.ISTAT, Reply.ISTATR)

    async def output_status(self, address: int) -> tuple[int, ...]:
        return await self._status(address, Cmd.OSTAT, Reply.OSTATR)

    async def local_status(self, address: int) -> tuple[int, ...]:
        return await self._status(address, Cmd.LSTAT, Reply.LSTATR)

    async def identify(self, address: int) -> PdId:
        code, data = await self.command(address, Cmd.ID, b"\x00")
        return decode_pdid(_expect(code, data, Reply.PDID))

    async def set_key(self, address: int, scbk: bytes) -> None:
        """Give the PD a new SCBK (osdp_KEYSET, secure channel required) and re-key the session."""
        pd = self._pd(address)
        if pd.session is None or not pd.session.active:
            raise LinkError("osdp_KEYSET needs an active secure channel")
        await self._expect_ack(address, Cmd.KEYSET, keyset_data(scbk))

    async def _expect_ack(self, address: int, code: int, data: bytes) -> None:
        reply, body = await self.command(address, code, data)
        _expect(reply, body, Reply.ACK)

    async def _status(self, address: int, code: int, want: int) -> tuple[int, ...]:
        reply, body = await self.command(address, code)
        return tuple(_expect(reply, body, want))

    # ------------------------------------------------------------------ the bus task

    async def _run(self) -> None:
        # asyncio.timeout (not wait_for, which can swallow a cancel in 3.11) keeps this loop cancellable
        while True:
            if self._port is None or not self._port.is_open:
                await self._open_port()
                continue
            for pd in self._pds.values():
                await self._service(pd)
            await asyncio.sleep(self.poll_interval)

    async def _open_port(self) -> None:
        try:
            self._port = await FramePort.open(self.url, self.baudrate)
        except LinkError as exc:
            self._port = None
            for pd in self._pds.values():
                self._missed(pd, str(exc))
            await asyncio.sleep(self.backoff_initial)

    async def _service(self, pd: _Pd) -> None:
        if not pd.ready:
            if time.monotonic() < pd.retry_at:
                return
            try:
                await self._connect(pd)
            except (LinkError, SecureChannelError) as exc:
                self._missed(pd, f"connect: {exc}")
                return
        if pd.queue:
            await self._run_request(pd, pd.queue.popleft())
        else:
            await self._poll(pd)

    async def _poll(self, pd: _Pd) -> None:
        self.stats.polls += 1
        try:
            code, data = await self._transact(pd, Cmd.POLL, b"")
        except (LinkError, SecureChannelError) as exc:
            pd.ready = False
            self._missed(pd, f"poll: {exc}")
            return
        pd.missed = 0
        if code != Reply.ACK:
            self._dispatch_reply(pd, code, data)

    def _dispatch_reply(self, pd: _Pd, code: int, data: bytes) -> None:
        try:
            event = decode_event(pd.cfg.address, code, data)
        except MessageError as exc:
            self.stats.bad_replies += 1
            log.warning("osdp: dropped malformed reply 0x%02x from PD %d: %s", code, pd.cfg.address, exc)
            return
        if event is None:
            log.info("osdp: unexpected reply 0x%02x to a poll from PD %d", code, pd.cfg.address)
            return
        self._emit(event)

    async def _run_request(self, pd: _Pd, req: _Request) -> None:
        for attempt in range(self.command_attempts):
            if req.future.done():  # the caller gave up waiting
                return
            if attempt and not pd.ready:
                try:
                    await self._connect(pd)
                except (LinkError, SecureChannelError) as exc:
                    self._missed(pd, f"connect: {exc}")
                    break
            try:
                result = await self._transact(pd, req.code, req.data)
            except _Recoverable as exc:
                pd.ready = False
                log.info("osdp: PD %d did not act on 0x%02x (%s); retrying", pd.cfg.address, req.code, exc)
                continue
            except (LinkError, SecureChannelError) as exc:
                pd.ready = False
                self._missed(pd, f"command: {exc}")
                _settle(req.future, exc=exc if isinstance(exc, LinkError) else LinkError(str(exc)))
                return
            pd.missed = 0
            self._after_command(pd, req, result)
            _settle(req.future, result=result)
            return
        refused = LinkError(f"PD {pd.cfg.address} refused 0x{req.code:02x} {self.command_attempts} times")
        _settle(req.future, exc=refused)

    def _after_command(self, pd: _Pd, req: _Request, result: tuple[int, bytes]) -> None:
        if req.code == Cmd.KEYSET and result[0] == Reply.ACK:
            # the PD switched to the new key and dropped the session: rebuild it with that key
            pd.scbk, pd.install_mode, pd.ready = req.data[2:18], False, False

    # ------------------------------------------------------------------ connection set-up

    async def _connect(self, pd: _Pd) -> None:
        self.stats.reconnects += 1
        pd.seq = 0
        pd.session = None
        code, data = await self._transact(pd, Cmd.ID, b"\x00")
        pd.pd_id = decode_pdid(_expect(code, data, Reply.PDID))
        code, data = await self._transact(pd, Cmd.CAP, b"\x00")
        pd.caps = decode_pdcap(_expect(code, data, Reply.PDCAP))
        if pd.cfg.secure:
            await self._handshake(pd)
            if pd.install_mode and pd.cfg.scbk is not None:
                await self._provision(pd, pd.cfg.scbk)
        pd.ready = True
        pd.missed = 0
        pd.backoff = 0.0
        if not pd.online:
            pd.online, pd.announced = True, True
            log.info("osdp: PD %d online (secure=%s)", pd.cfg.address, pd.session is not None)
            self._emit(PdOnline(pd.cfg.address, pd.pd_id, pd.session is not None))

    async def _handshake(self, pd: _Pd) -> None:
        if not any(c.function == Capability.COMMUNICATION_SECURITY and c.compliance & 1 for c in pd.caps):
            raise LinkError(f"PD {pd.cfg.address} does not offer a secure channel")
        pd.session = None  # the handshake itself travels in clear
        session = SecureSession(pd.scbk or SCBK_DEFAULT, install_mode=pd.install_mode)
        scb = bytes((3, SCS_CHLNG, session.key_type))
        code, data = await self._transact(pd, Cmd.CHLNG, session.challenge(), scb=scb)
        cryptogram = session.on_ccrypt(_expect(code, data, Reply.CCRYPT))
        scb = bytes((3, SCS_SCRYPT, session.key_type))
        code, data = await self._transact(pd, Cmd.SCRYPT, cryptogram, scb=scb)
        session.on_rmac_i(_expect(code, data, Reply.RMAC_I))
        pd.session = session

    async def _provision(self, pd: _Pd, scbk: bytes) -> None:
        code, data = await self._transact(pd, Cmd.KEYSET, keyset_data(scbk))
        _expect(code, data, Reply.ACK)
        log.info("osdp: PD %d provisioned with its SCBK; leaving install mode", pd.cfg.address)
        pd.scbk, pd.install_mode = scbk, False
        await self._handshake(pd)

    def _missed(self, pd: _Pd, reason: str) -> None:
        pd.ready = False
        pd.missed += 1
        if (pd.online or not pd.announced) and pd.missed >= self.offline_after:  # lost, or never seen
            pd.online, pd.announced = False, True
            _fail_queue(pd, PeerOffline(f"PD {pd.cfg.address} went offline"))
            log.warning("osdp: PD %d offline after %d missed transactions: %s", pd.cfg.address, pd.missed, reason)
            self._emit(PdOffline(pd.cfg.address, reason))
        if not pd.online:
            pd.backoff = min(self.backoff_max, pd.backoff * 2 or self.backoff_initial)
            pd.retry_at = time.monotonic() + pd.backoff

    def _emit(self, event: CpEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must not stop the bus
                log.exception("osdp: event listener failed")

    def _pd(self, address: int) -> _Pd:
        try:
            return self._pds[address]
        except KeyError:
            raise LinkError(f"no PD at address {address} on this bus") from None

    # ------------------------------------------------------------------ one transaction

    async def _transact(self, pd: _Pd, code: int, data: bytes, *, scb: bytes | None = None) -> tuple[int, bytes]:
        """Send one command (re-sending the same bytes on silence) and return the checked reply."""
        assert self._port is not None
        seq = pd.next_seq()
        wire = self._encode(pd, seq, code, data, scb)
        self.stats.transactions += 1
        tries = self.retries + 1 if pd.cfg.resend_commands or code in _NO_EFFECT else 1
        for attempt in range(tries):
            if attempt:
                self.stats.retries += 1
            self._port.send(wire)
            frame = await self._port.reply(pd.cfg.address, seq, self.reply_timeout)
            if frame is None:
                continue
            if frame.code == Reply.BUSY:
                await asyncio.sleep(self.reply_timeout)
                continue
            try:
                return self._open_reply(pd, frame)
            except _Recoverable as exc:
                if attempt:  # the PD may have acted on an earlier copy whose reply was lost
                    raise LinkError(f"outcome unknown: {exc} in answer to a re-sent frame") from exc
                raise
        self.stats.timeouts += 1
        raise LinkTimeout(f"no reply from PD {pd.cfg.address} to 0x{code:02x} after {tries} tries")

    def _encode(self, pd: _Pd, seq: int, code: int, data: bytes, scb: bytes | None) -> bytes:
        session = pd.session
        if session is None or not session.active:
            return encode_frame(pd.cfg.address, seq, code, data, scb=scb)
        if data:
            return encode_frame(pd.cfg.address, seq, code, session.encrypt(data),
                                scb=bytes((2, SCS_CMD_ENC)), mac_fn=session.command_mac)
        return encode_frame(pd.cfg.address, seq, code, scb=bytes((2, SCS_CMD_MAC)), mac_fn=session.command_mac)

    def _open_reply(self, pd: _Pd, frame: Frame) -> tuple[int, bytes]:
        session = pd.session
        data = frame.data
        if session is not None and session.active:
            if frame.scb is None:
                if frame.code != Reply.NAK:
                    self.stats.bad_replies += 1
                    raise _Recoverable("plain-text reply inside the secure channel")
                session.active = False  # the PD dropped the session and says so in clear
            else:
                session.check_reply(frame.mac_input, frame.mac)
                if frame.scb_type == SCS_REPLY_ENC:
                    data = session.decrypt_reply(data)
        if frame.code == Reply.NAK:
            self._on_nak(pd, data)
        return frame.code, data

    def _on_nak(self, pd: _Pd, data: bytes) -> None:
        self.stats.naks += 1
        try:
            nak = decode_nak(data)
        except MessageError:
            self.stats.bad_replies += 1
            raise _Recoverable("empty NAK") from None
        if nak.code in _NOT_ACTED:
            raise _Recoverable(f"NAK {nak.code}")
        raise CommandRejected(f"PD {pd.cfg.address} refused the command (NAK {nak.code})", nak.code)


def _new_pd(cfg: PdConfig) -> _Pd:
    if cfg.scbk is not None and len(cfg.scbk) != 16:
        raise ValueError("an SCBK is 16 bytes")
    if cfg.install_mode and not cfg.secure:
        raise ValueError("install mode is a secure-channel setting")
    return _Pd(cfg, scbk=cfg.scbk, install_mode=cfg.install_mode or (cfg.secure and cfg.scbk is None))


def _expect(code: int, data: bytes, want: int) -> bytes:
    if code != want:
        raise MessageError(f"expected reply 0x{want:02x}, got 0x{code:02x}")
    return data


def _settle(
    future: asyncio.Future[tuple[int, bytes]],
    result: tuple[int, bytes] | None = None,
    exc: BaseException | None = None,
) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        assert result is not None
        future.set_result(result)


def _fail_queue(pd: _Pd, exc: LinkError) -> None:
    while pd.queue:
        _settle(pd.queue.popleft().future, exc=exc)
