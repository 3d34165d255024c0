"""Links to lane hardware (OSDP, Modbus) exposed as gatecore device models.

:mod:`firmware_bridge.osdp` is an OSDP control panel over RS-485, :mod:`firmware_bridge.modbus` Modbus
RTU/TCP clients; both know nothing about lanes. :mod:`firmware_bridge.devices` builds the core's device
models on them; the ``gate_hw`` plugin exposes those to profiles.
"""
