"""The outbox: what one transaction hands on to Redis once it has committed, and only then.

Domain code never talks to Redis while it writes. It records what should follow the commit
in the session's outbox: the steps it wrote (the boards turn them into cards), and the ids
to hand off to the workers (events to route, assignments to deliver). The boundary that owns
the transaction (`dispatch.transaction`) commits, then hands the outbox on; a rollback drops
it. So nothing is published or queued for a change that was not committed, and a commit is
never followed by a forgotten hand-off. It also lists the files the transaction wrote
(attachments), which a rollback removes, so a refused upload leaves nothing on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlmodel import Session

_KEY = "sipingtai.outbox"


class StepLike(Protocol):
    """What the outbox needs of a step: the event it belongs to and what happened."""

    @property
    def event_id(self) -> int:
        """The event the step belongs to."""

    @property
    def action(self) -> str:
        """What happened."""


class Handoff:
    """The names of the hand-offs to the workers."""

    ROUTING = "routing"  # event ids to route
    DELIVERY = "delivery"  # assignment ids to deliver to their department's system


@dataclass
class Outbox:
    """The steps written and the ids to hand off, in the order they were recorded."""

    steps: dict[int, list[StepLike]] = field(default_factory=dict)
    handoffs: dict[str, list[int]] = field(default_factory=dict)
    # The event objects the steps belong to, so the boundary needs no identity-map lookups.
    subjects: dict[int, object] = field(default_factory=dict)
    # Files written for this transaction that did not exist before: a rollback removes them.
    files: list[Path] = field(default_factory=list)
    # Events whose every part this transaction holds (routing a new event, which had none):
    # their cards need no query for parts, nor for parts that came back.
    parts: dict[int, list[object]] = field(default_factory=dict)

    def note_step(self, step: StepLike, subject: object) -> None:
        """Remember that the transaction wrote this step of its event (the subject)."""
        self.steps.setdefault(step.event_id, []).append(step)
        self.subjects[step.event_id] = subject

    def note_parts(self, event_id: int, parts: list[object]) -> None:
        """Remember that these are all the parts the event has (it had none before)."""
        self.parts[event_id] = parts

    def hand_off(self, name: str, ids: list[int] | tuple[int, ...]) -> None:
        """Hand these ids to the workers once the transaction has committed."""
        self.handoffs.setdefault(name, []).extend(ids)

    def ids(self, name: str) -> list[int]:
        """Return the ids recorded for one hand-off, each once, in recorded order."""
        return list(dict.fromkeys(self.handoffs.get(name, ())))

    def wrote_file(self, path: Path) -> None:
        """Remember a new file, to be removed if the transaction does not commit."""
        self.files.append(path)

    def remove_files(self) -> None:
        """Remove the files this transaction wrote (after a rollback)."""
        for path in self.files:
            path.unlink(missing_ok=True)
        self.files.clear()

    def clear(self) -> None:
        """Forget everything (after a rollback, or once handed on)."""
        self.steps.clear()
        self.handoffs.clear()
        self.subjects.clear()
        self.files.clear()
        self.parts.clear()

    def __bool__(self) -> bool:
        return bool(self.steps) or any(self.handoffs.values())


def outbox_of(session: Session) -> Outbox:
    """Return the session's outbox, creating it on first use."""
    found = session.info.get(_KEY)
    if found is None:
        found = session.info[_KEY] = Outbox()
    assert isinstance(found, Outbox)
    return found
