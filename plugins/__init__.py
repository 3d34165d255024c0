"""First-party gatecore plugins. Each sub-package is a plugin registered by entry point, written as a
vendor would write one: it imports only ``gatecore``'s public API and ``firmware_bridge``."""
