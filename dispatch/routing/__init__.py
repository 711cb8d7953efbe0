"""Routing: the pure decision, and the router that feeds it the built reference data."""
