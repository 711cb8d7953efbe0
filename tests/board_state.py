"""A board's cards as a client keeps them: a snapshot, then compact deltas (PROTOCOL.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Card = dict[str, Any]
Fetch = Callable[[list[int]], list[Card]]


def apply_set(card: Card | None, event_id: int, changes: dict[str, dict[str, Any]]) -> Card:
    """Return a card with a delta's changes applied (a new one when card is None)."""
    base: Card = dict(card) if card is not None else {"id": event_id, "assignments": []}
    parts = {part["id"]: dict(part) for part in base["assignments"]}
    order = [part["id"] for part in base["assignments"]]
    for group, fields in changes.items():
        if group == "e":
            for key, value in fields.items():
                if key == "parts":
                    order = list(value)
                else:
                    base[key] = value
        else:
            part_id = int(group)
            parts.setdefault(part_id, {"id": part_id, "event_id": event_id}).update(fields)
    base["assignments"] = [parts.get(i, {"id": i, "event_id": event_id}) for i in order]
    return base


def without_nulls(card: Card) -> Card:
    """Return a card without its null fields: a compact delta never sends a null not yet set."""
    plain = {k: v for k, v in card.items() if v is not None and k != "assignments"}
    plain["assignments"] = [
        {k: v for k, v in part.items() if v is not None} for part in card["assignments"]
    ]
    return plain


@dataclass
class BoardState:
    """What a page holds: cards by id, each with the version it was last brought to."""

    cards: dict[int, Card] = field(default_factory=dict)
    versions: dict[int, int | None] = field(default_factory=dict)
    fetched: list[int] = field(default_factory=list)

    def snapshot(self, message: dict[str, Any]) -> None:
        """Start again from a snapshot: its cards are current, whatever their version."""
        self.cards = {card["id"]: card for card in message["events"]}
        self.versions = dict.fromkeys(self.cards)

    def apply(self, deltas: Iterable[dict[str, Any]], fetch: Fetch) -> None:
        """Apply deltas in order, fetching the cards the client lacks or has a gap in."""
        waiting: dict[int, list[dict[str, Any]]] = {}
        for delta in deltas:
            event_id = delta["id"]
            if event_id in waiting:
                waiting[event_id].append(delta)
            elif not self._apply(delta):
                waiting[event_id] = [delta]
        if not waiting:
            return
        ids = sorted(waiting)
        self.fetched += ids
        for card in fetch(ids):
            self.cards[card["id"]] = card
            # Fetched after the delta that asked for it: current, and later deltas apply.
            self.versions[card["id"]] = None
            for delta in waiting[card["id"]]:
                self._apply(delta)

    def _apply(self, delta: dict[str, Any]) -> bool:
        """Apply one delta; False when the card must be fetched first."""
        event_id, version, previous = delta["id"], delta["v"], delta["p"]
        held = self.cards.get(event_id)
        if previous == 0:
            self.cards[event_id] = apply_set(None, event_id, delta["set"])
        elif held is None:
            return False
        else:
            at = self.versions.get(event_id)
            if at is not None and version <= at:
                return True  # already applied
            if at is not None and at != previous:
                return False  # a change this client never saw
            self.cards[event_id] = apply_set(held, event_id, delta["set"])
        self.versions[event_id] = version
        return True
