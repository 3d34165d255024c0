"""OSDP control panel (IEC 60839-11-5) on asyncio: framing, secure channel, polling of PDs on a bus."""

from firmware_bridge.osdp.cp import ControlPanel, CpEvent, LinkStats, PdConfig, PdOffline, PdOnline
from firmware_bridge.osdp.frame import Frame, FrameParser, decode_frame, encode_frame
from firmware_bridge.osdp.messages import (
    BuzzerCommand,
    CardRead,
    FormattedCard,
    InputStatus,
    KeypadEntry,
    LedColor,
    LedCommand,
    LocalStatus,
    OutputCommand,
    OutputControl,
    OutputStatus,
    PdEvent,
    PdId,
    TextCommand,
)

__all__ = [
    "BuzzerCommand", "CardRead", "ControlPanel", "CpEvent", "FormattedCard", "Frame", "FrameParser", "InputStatus",
    "KeypadEntry", "LedColor", "LedCommand", "LinkStats", "LocalStatus", "OutputCommand", "OutputControl",
    "OutputStatus", "PdConfig", "PdEvent", "PdId", "PdOffline", "PdOnline", "TextCommand", "decode_frame",
    "encode_frame",
]
