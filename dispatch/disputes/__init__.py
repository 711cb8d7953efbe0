"""Disputes (争议) over who owns an event, the centre's rulings (裁定), and list change requests."""
