"""Plugins that ship with the core. They use only the public hooks, like any other plugin."""
