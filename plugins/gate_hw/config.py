"""Profile models of the hardware plugin: the OSDP buses and Modbus controllers of the site, and the
device kinds that use them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from gatecore.api import (
    Barrier,
    ConfigModel,
    DeviceConfig,
    Display,
    Identifier,
    Lights,
    Presence,
    Reader,
    SecretRef,
)

KeyPath = tuple[str | int, ...]


class PdSection(ConfigModel):
    """One OSDP peripheral device (reader, I/O board) on a bus."""

    address: int = Field(ge=0, le=126, description="the PD's address on the bus")
    secure: bool = Field(True, description="use the OSDP secure channel (AES-128)")
    scbk: SecretRef | None = Field(None, description="the PD's key as 32 hex digits, from 'env:NAME' or 'file:PATH'")
    install_mode: bool = Field(False, description="the PD is new: connect with SCBK-D, then give it `scbk`")
    resend_commands: bool = Field(True, description="re-send a command whose reply was lost; turn off for a PD "
                                  "that acts twice on a repeated sequence number (libosdp 3.2.9 in plain mode)")

    @model_validator(mode="after")
    def _keys(self) -> PdSection:
        if self.install_mode and (self.scbk is None or not self.secure):
            raise ValueError("install_mode provisions `scbk`: set secure = true and scbk")
        if self.scbk is not None:
            key = self.scbk.reveal().strip()
            if len(key) != 32 or any(ch not in "0123456789abcdefABCDEF" for ch in key):
                raise ValueError("scbk must hold 32 hex digits")
        return self


class OsdpBusSection(ConfigModel):
    """An RS-485 line with its PDs; the controller is the OSDP control panel."""

    port: str = Field(description="serial device (e.g. /dev/ttyUSB0) or a pyserial URL")
    baudrate: int = Field(115200, description="9600, 19200, 38400, 57600, 115200 or 230400")
    reply_timeout_ms: int = Field(150, gt=0, le=5000, description="wait this long for a reply")
    retries: int = Field(2, ge=0, le=10, description="re-send a frame this often when no reply comes")
    offline_after: int = Field(3, ge=1, le=100, description="failed transactions that make a PD offline")
    poll_interval_ms: int = Field(20, ge=0, le=10_000, description="pause after each round of polls")
    pds: tuple[PdSection, ...] = Field(description="the PDs on this line")

    @field_validator("pds")
    @classmethod
    def _unique(cls, pds: tuple[PdSection, ...]) -> tuple[PdSection, ...]:
        if len({p.address for p in pds}) != len(pds):
            raise ValueError("two PDs share an address")
        return pds


class ModbusSection(ConfigModel):
    """A Modbus controller (barrier controller, PLC) reached over TCP or RTU."""

    transport: Literal["tcp", "rtu"]
    host: str = Field("127.0.0.1", description="tcp: the controller's address")
    port: int = Field(502, ge=1, le=65535, description="tcp: the controller's port")
    serial_port: str | None = Field(None, description="rtu: the serial device")
    baudrate: int = Field(19200, description="rtu: line speed")
    device_id: int = Field(1, ge=0, le=247, description="Modbus unit / slave id")
    timeout_ms: int = Field(300, gt=0, le=10_000)
    poll_ms: int = Field(100, gt=0, le=60_000, description="read every point this often")
    offline_after: int = Field(3, ge=1, le=100, description="failed polls that make the controller offline")

    @model_validator(mode="after")
    def _serial(self) -> ModbusSection:
        if self.transport == "rtu" and not self.serial_port:
            raise ValueError("transport 'rtu' needs serial_port")
        return self


class HwSection(ConfigModel):
    """[plugins.gate_hw]: the hardware links, by name; devices name the link they use."""

    osdp: dict[Identifier, OsdpBusSection] = Field(default_factory=dict)
    modbus: dict[Identifier, ModbusSection] = Field(default_factory=dict)


class PointConfig(ConfigModel):
    """A register map entry."""

    table: Literal["coil", "discrete_input", "holding_register", "input_register"]
    address: int = Field(ge=0, le=0xFFFF)
    scale: float = Field(1.0, description="engineering value = raw * scale")
    signed: bool = False


class _OsdpDevice(DeviceConfig):
    bus: Identifier = Field(description="an OSDP bus of [plugins.gate_hw.osdp]")
    address: int = Field(ge=0, le=126, description="the PD's address on that bus")


class OsdpOutputConfig(_OsdpDevice):
    """A barrier (or turnstile lock) on a relay output; position from limit-switch inputs if given."""

    makes = Barrier
    kind: Literal["osdp.output"]
    output: int = Field(ge=0, le=255)
    open_input: int | None = Field(None, ge=0, le=255, description="input made when fully open")
    closed_input: int | None = Field(None, ge=0, le=255, description="input made when fully closed")


class OsdpInputConfig(_OsdpDevice):
    """A loop detector or presence sensor on an input of a PD."""

    makes = Presence
    kind: Literal["osdp.input"]
    input: int = Field(ge=0, le=255)
    active_high: bool = True


class OsdpReaderConfig(_OsdpDevice):
    """A card / QR / keypad reader."""

    makes = Reader
    kind: Literal["osdp.reader"]
    reader: int = Field(0, ge=0, le=255)


class OsdpLedConfig(_OsdpDevice):
    """Lane lights shown on a reader LED."""

    makes = Lights
    kind: Literal["osdp.led"]
    reader: int = Field(0, ge=0, le=255)
    led: int = Field(0, ge=0, le=255)


class OsdpTextConfig(_OsdpDevice):
    """A reader's text display."""

    makes = Display
    kind: Literal["osdp.text"]
    reader: int = Field(0, ge=0, le=255)


class _ModbusDevice(DeviceConfig):
    controller: Identifier = Field(description="a controller of [plugins.gate_hw.modbus]")


def _writable(point: PointConfig) -> PointConfig:
    if point.table not in ("coil", "holding_register"):
        raise ValueError(f"a {point.table} cannot be written: expected a coil or a holding_register")
    return point


WritablePoint = Annotated[PointConfig, AfterValidator(_writable)]


class ModbusBarrierConfig(_ModbusDevice):
    makes = Barrier
    kind: Literal["modbus.barrier"]
    command: WritablePoint = Field(description="coil or holding register written 1 to open, 0 to close")
    open_limit: PointConfig
    closed_limit: PointConfig


AspectName = Literal["off", "red", "green", "amber"]
DEFAULT_CODES: dict[AspectName, int] = {"off": 0, "red": 1, "green": 2, "amber": 3}


class ModbusLightsConfig(_ModbusDevice):
    makes = Lights
    kind: Literal["modbus.lights"]
    aspect: WritablePoint = Field(description="the holding register that selects the aspect")
    codes: dict[AspectName, int] = Field(default_factory=lambda: dict(DEFAULT_CODES),
                                         description="register value of each aspect")


class ModbusPresenceConfig(_ModbusDevice):
    makes = Presence
    kind: Literal["modbus.presence"]
    occupied: PointConfig
    active_high: bool = True


DEVICE_KINDS: tuple[type[DeviceConfig], ...] = (
    OsdpOutputConfig, OsdpInputConfig, OsdpReaderConfig, OsdpLedConfig, OsdpTextConfig,
    ModbusBarrierConfig, ModbusLightsConfig, ModbusPresenceConfig,
)


def link_problems(links: HwSection, device: DeviceConfig, at: KeyPath) -> list[tuple[KeyPath, str]]:
    """What is wrong with the link a device names: a bus or controller the section does not define, an
    address that is not on its bus (``at`` is the device's key path)."""
    if isinstance(device, _OsdpDevice):
        bus = links.osdp.get(device.bus)
        if bus is None:
            return [((*at, "bus"), f"no OSDP bus {device.bus!r} in [plugins.gate_hw.osdp]; buses: "
                                   f"{', '.join(map(repr, links.osdp)) or 'none'}")]
        addresses = sorted(pd.address for pd in bus.pds)
        if device.address not in addresses:
            return [((*at, "address"), f"OSDP bus {device.bus!r} has no PD at address {device.address}; its PDs: "
                                       f"{', '.join(map(str, addresses)) or 'none'}")]
    if isinstance(device, _ModbusDevice) and device.controller not in links.modbus:
        return [((*at, "controller"), f"no Modbus controller {device.controller!r} in [plugins.gate_hw.modbus]; "
                                      f"controllers: {', '.join(map(repr, links.modbus)) or 'none'}")]
    return []
