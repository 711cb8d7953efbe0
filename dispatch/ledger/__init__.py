"""The 台账 ledger: every event with its steps' times, streamed as CSV or XLSX."""
