"""Sipingtai's domain core, one package per domain area (see ARCHITECTURE.md)."""
