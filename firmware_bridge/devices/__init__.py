"""The core's device models (Barrier, Presence, Lights, Reader, Display) over OSDP and Modbus links."""
