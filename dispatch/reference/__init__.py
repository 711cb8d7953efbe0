"""Reference data: jurisdictions, departments, versioned responsibility lists, the calendar."""
