"""RQ jobs, the worker's context, the scheduler's work and health."""
