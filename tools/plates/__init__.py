"""Synthetic plates and container codes (texts, rendering, degradations) and the recogniser's training."""
