"""gate_hw: lane hardware over OSDP (RS-485) and Modbus (TCP/RTU), through firmware_bridge.

The site's links are named in ``[plugins.gate_hw]``; each ``[[lanes.devices]]`` entry of an ``osdp.*``
or ``modbus.*`` kind names the link it uses. Devices on one link share it (one control panel per bus,
one poll loop per controller)::

    [plugins.gate_hw.osdp.bl1-bus]
    port = "/dev/ttyUSB0"
    pds = [{ address = 1, scbk = "env:BL1_READER_SCBK" }]

    [plugins.gate_hw.modbus.bl1-barrier]
    transport = "tcp"
    host = "10.20.1.15"

    [[lanes.devices]]
    kind = "osdp.reader"
    role = "reader"
    bus = "bl1-bus"
    address = 1

    [[lanes.devices]]
    kind = "modbus.barrier"
    role = "barrier"
    controller = "bl1-barrier"
    command = { table = "coil", address = 0 }
    open_limit = { table = "discrete_input", address = 0 }
    closed_limit = { table = "discrete_input", address = 1 }

Kinds: ``osdp.output`` (barrier relay), ``osdp.input`` (loop), ``osdp.reader``, ``osdp.led`` (lights),
``osdp.text`` (display), ``modbus.barrier``, ``modbus.lights``, ``modbus.presence``.

It reports nothing but device events: a reader's scan (card data, a pass's text) stays inside the
controller, and a link's offline reason reaches only firmware_bridge's own log (the lane's fault names
the device's role and this plugin, never the reason's text).
"""

from __future__ import annotations

from collections.abc import Sequence

from firmware_bridge.devices.hubs import ModbusHub, OsdpHub
from firmware_bridge.devices.modbus import ModbusBarrier, ModbusLights, ModbusPresence
from firmware_bridge.devices.osdp import OsdpBarrier, OsdpDisplay, OsdpLights, OsdpPresence, OsdpReader
from firmware_bridge.modbus.client import ModbusLink
from firmware_bridge.modbus.registers import Point, Table
from firmware_bridge.osdp.cp import PdConfig
from gatecore.api import (
    Aspect,
    ConfigModel,
    Device,
    DeviceConfig,
    DeviceContext,
    Profile,
    SiteError,
    SiteView,
    StashKey,
    hookimpl,
)

from . import config as c

NAME = "gate_hw"
HUBS = StashKey[dict[str, OsdpHub | ModbusHub]]()
"""The site's links, one per OSDP bus and Modbus controller, shared by the devices on them."""


@hookimpl
def gatecore_config_section() -> tuple[str, type[ConfigModel]]:
    return NAME, c.HwSection


@hookimpl
def gatecore_device_kinds() -> Sequence[type[DeviceConfig]]:
    return c.DEVICE_KINDS


@hookimpl
def gatecore_site_setup(site: SiteView) -> None:
    site.stash[HUBS] = {}


@hookimpl
def gatecore_check_profile(profile: Profile) -> list[tuple[c.KeyPath, str]]:
    """Every device names a bus or controller of ``[plugins.gate_hw]``, and an address on its bus."""
    links = _links(profile.plugin_config(NAME))
    return [problem for i, lane in enumerate(profile.lanes) for j, device in enumerate(lane.devices)
            for problem in c.link_problems(links, device, ("lanes", i, "devices", j))]


@hookimpl
def gatecore_make_device(config: DeviceConfig, ctx: DeviceContext) -> Device | None:
    match config:
        case c.OsdpOutputConfig():
            return OsdpBarrier(ctx, _osdp(ctx, config), config.address, config.output,
                               config.open_input, config.closed_input)
        case c.OsdpInputConfig():
            return OsdpPresence(ctx, _osdp(ctx, config), config.address, config.input, config.active_high)
        case c.OsdpReaderConfig():
            return OsdpReader(ctx, _osdp(ctx, config), config.address, config.reader)
        case c.OsdpLedConfig():
            return OsdpLights(ctx, _osdp(ctx, config), config.address, config.reader, config.led)
        case c.OsdpTextConfig():
            return OsdpDisplay(ctx, _osdp(ctx, config), config.address, config.reader)
        case c.ModbusBarrierConfig():
            return ModbusBarrier(ctx, _modbus(ctx, config), _point(config.command), _point(config.open_limit),
                                 _point(config.closed_limit))
        case c.ModbusLightsConfig():
            codes = {Aspect(name): code for name, code in config.codes.items()}
            return ModbusLights(ctx, _modbus(ctx, config), _point(config.aspect), codes)
        case c.ModbusPresenceConfig():
            return ModbusPresence(ctx, _modbus(ctx, config), _point(config.occupied), config.active_high)
    return None


def _links(section: ConfigModel | None) -> c.HwSection:
    return section if isinstance(section, c.HwSection) else c.HwSection()


def _section(ctx: DeviceContext, config: DeviceConfig) -> c.HwSection:
    """The links, once the device's own are known to be there (``gatecore check`` says so first)."""
    links = _links(ctx.site.plugin_config(NAME))
    for _, problem in c.link_problems(links, config, ()):
        raise SiteError(f"lane {ctx.lane_id}: device {ctx.role!r}: {problem}")
    return links


def _osdp(ctx: DeviceContext, config: c.OsdpOutputConfig | c.OsdpInputConfig | c.OsdpReaderConfig
          | c.OsdpLedConfig | c.OsdpTextConfig) -> OsdpHub:
    bus = _section(ctx, config).osdp[config.bus]
    hubs = ctx.site.stash[HUBS]
    hub = hubs.get(f"osdp/{config.bus}")
    if not isinstance(hub, OsdpHub):
        pds = [PdConfig(p.address, p.secure, bytes.fromhex(p.scbk.reveal().strip()) if p.scbk else None,
                        p.install_mode, p.resend_commands) for p in bus.pds]
        hub = OsdpHub(bus.port, pds, baudrate=bus.baudrate, reply_timeout=bus.reply_timeout_ms / 1000,
                      retries=bus.retries, offline_after=bus.offline_after,
                      poll_interval=bus.poll_interval_ms / 1000)
        hubs[f"osdp/{config.bus}"] = hub
    return hub


def _modbus(ctx: DeviceContext, config: c.ModbusBarrierConfig | c.ModbusLightsConfig
            | c.ModbusPresenceConfig) -> ModbusHub:
    section = _section(ctx, config).modbus[config.controller]
    hubs = ctx.site.stash[HUBS]
    hub = hubs.get(f"modbus/{config.controller}")
    if not isinstance(hub, ModbusHub):
        timeout = section.timeout_ms / 1000
        if section.transport == "tcp":
            link = ModbusLink.tcp(section.host, section.port, device_id=section.device_id, timeout=timeout)
        else:
            assert section.serial_port is not None
            link = ModbusLink.rtu(section.serial_port, section.baudrate, device_id=section.device_id, timeout=timeout)
        hub = ModbusHub(link, interval=section.poll_ms / 1000, offline_after=section.offline_after)
        hubs[f"modbus/{config.controller}"] = hub
    return hub


def _point(p: c.PointConfig) -> Point:
    return Point(Table(p.table), p.address, p.scale, p.signed)
