"""Protocol-level peers for tests and benchmarks, not for production: a libosdp peripheral device on a
pseudo-terminal (:mod:`firmware_bridge.testing.osdp_peer`) and a barrier controller served by pymodbus
(:mod:`firmware_bridge.testing.modbus_peer`). Hardware plugins' own tests can drive their links against them.
"""
