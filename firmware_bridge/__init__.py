"""Links to lane hardware (OSDP, Modbus) exposed as gatecore device models."""
