"""Links to lane hardware: an OSDP control panel over RS-485 and Modbus RTU/TCP clients.

The links know nothing about lanes. Device models built on them (see :mod:`firmware_bridge.devices`)
implement the core's device protocols; the ``gate_hw`` plugin exposes them to profiles.
"""
