"""HTTP routes, one module per area; thin: parse, call one domain function, respond."""
