"""What the county and the staffing office learn from the loop: measures, rankings, evidence.

Every definition lives once in measures.py (docs/METRICS.md writes it out); the API, the
pages and the workbooks read the same numbers.
"""
