"""The ground floor: database, settings, errors, clock, Redis, queues, the outbox."""
