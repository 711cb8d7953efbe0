"""Responsibility lists: the pure rules, their versions, importing them, classifying text."""
