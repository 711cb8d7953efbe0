"""The closed loop after intake: dispatch, a department's part, verification, triage, merge."""
