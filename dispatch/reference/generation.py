"""The reference generation: a counter every change to reference data moves on.

Processes cache what they build from reference data (the spatial index, the department
directory, the lists' classifiers, the work calendar). Whatever changes that data calls
`bump_generation` in the same transaction; a process that sees the counter moved rebuilds
(`dispatch.routing.cache`). The database holds the counter, so every API process and
worker sees a change once it is committed, whether or not Redis is up.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.reference.models import ReferenceGeneration

ROW_ID = 1


def bump_generation(session: Session, what: str) -> None:
    """Move the counter on, in the caller's transaction, saying what changed."""
    changed = session.exec(
        update(ReferenceGeneration)
        .where(col(ReferenceGeneration.id) == ROW_ID)
        .values(
            generation=ReferenceGeneration.generation + 1,
            changed_at=utcnow(),
            what=what[:200],
        )
    )
    if changed.rowcount == 0:  # a database made before the counter existed
        session.add(ReferenceGeneration(id=ROW_ID, generation=1, what=what[:200]))
    session.flush()


def current_generation(session: Session) -> int:
    """Return the counter as committed (0 before any change was counted)."""
    found = session.exec(
        select(ReferenceGeneration.generation).where(ReferenceGeneration.id == ROW_ID)
    ).first()
    return int(found or 0)
