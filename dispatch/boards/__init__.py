"""Live boards: cards of events, their Redis streams, snapshots, who may watch."""
