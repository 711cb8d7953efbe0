"""Delivery of new assignments to departments' own systems over signed webhooks."""
