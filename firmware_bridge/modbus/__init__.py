"""Modbus TCP/RTU clients (pymodbus) for barrier controllers, lights and loop detectors."""

from firmware_bridge.modbus.client import ModbusLink
from firmware_bridge.modbus.poller import Poller
from firmware_bridge.modbus.registers import Point, RegisterMap, Table, Value

__all__ = ["ModbusLink", "Point", "Poller", "RegisterMap", "Table", "Value"]
