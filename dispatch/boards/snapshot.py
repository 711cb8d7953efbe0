"""Snapshots: the cards a board starts from, and who may watch which board."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from dispatch.boards.cards import cards
from dispatch.boards.streams import Board, BoardKind
from dispatch.core.clock import day_start, utcnow
from dispatch.events.lifecycle import OPEN, OPEN_PARTS
from dispatch.events.models import Assignment, Event, EventStatus
from dispatch.users.models import UserRole
from dispatch.users.policy import CENTRE_ROLES, ROLE_LABELS, TOWNSHIP_ROLES, Actor

# A board snapshot holds every open event; past this many only the newest are sent.
SNAPSHOT_LIMIT = 5000
# Boards keep fed-back assignments and closed, unrated events this many days.
FOLLOW_UP_DAYS = 7


# ---- Snapshots -------------------------------------------------------------------------


def _events_for_board(
    session: Session, board: Board, department_ids: frozenset[int], now: datetime
) -> list[Event]:
    today = day_start(now)
    recent = now - timedelta(days=FOLLOW_UP_DAYS)
    query = select(Event)
    if board.kind is BoardKind.DEPARTMENT:
        mine = select(Assignment.event_id).where(
            col(Assignment.department_id).in_(sorted(department_ids)),
            or_(
                col(Assignment.status).in_(OPEN_PARTS),
                col(Assignment.fed_back_at) >= recent,
            ),
        )
        query = query.where(col(Event.id).in_(mine))
    else:
        query = query.where(
            or_(
                col(Event.status).in_([s.value for s in OPEN]),
                # closed but not yet followed up (回访): the township still has to rate it
                (col(Event.status) == EventStatus.CLOSED) & (col(Event.closed_at) >= recent),
                col(Event.received_at) >= today,
                col(Event.closed_at) >= today,
            )
        )
        if board.kind is BoardKind.TOWNSHIP:
            query = query.where(Event.township_code == board.key)
    query = query.order_by(col(Event.received_at).desc(), col(Event.id).desc())
    return list(session.exec(query.limit(SNAPSHOT_LIMIT)).all())


def board_snapshot(
    session: Session, board: Board, *, department_ids: frozenset[int] = frozenset()
) -> list[dict[str, Any]]:
    """Return the cards a board starts from: open, verified, unrated and today's; newest first."""
    return cards(session, _events_for_board(session, board, department_ids, utcnow()))


# Cards asked for at once on demand: a frame's new events, a client's gaps.
CARDS_LIMIT = 200


def board_cards(
    session: Session,
    board: Board,
    event_ids: Sequence[int],
    *,
    department_ids: frozenset[int] = frozenset(),
) -> list[dict[str, Any]]:
    """Return the current cards of those events that the board shows, by id.

    A board shows an event when its deltas reach the board (`cards.boards_of`): the county
    every event, a township those in its territory, a department those with a part of its
    own or of a unit it answers for, whatever the part's status.
    """
    wanted = sorted(set(event_ids))[:CARDS_LIMIT]
    if not wanted:
        return []
    query = select(Event).where(col(Event.id).in_(wanted))
    if board.kind is BoardKind.TOWNSHIP:
        query = query.where(Event.township_code == board.key)
    elif board.kind is BoardKind.DEPARTMENT:
        ids = sorted(department_ids)
        theirs = select(Assignment.event_id).where(
            col(Assignment.event_id).in_(wanted),
            or_(col(Assignment.department_id).in_(ids), col(Assignment.on_behalf_of_id).in_(ids)),
        )
        query = query.where(col(Event.id).in_(theirs))
    elif board.kind is not BoardKind.COUNTY:
        return []
    return cards(session, list(session.exec(query.order_by(col(Event.id))).all()))


def board_refusal(actor: Actor, board: Board) -> str | None:
    """Return why the user may not watch a county, township or department board, or None."""
    if actor.role in CENTRE_ROLES:
        return None
    if board.kind is BoardKind.COUNTY and actor.role is UserRole.STAFFING_OFFICE:
        return None  # the staffing office watches the county's work, read only
    if board.kind is BoardKind.TOWNSHIP and actor.role in TOWNSHIP_ROLES:
        if actor.township_code == board.key:
            return None
        return f"只能查看本乡镇的看板，不能查看乡镇「{board.key}」的看板"
    if board.kind is BoardKind.DEPARTMENT and actor.role is UserRole.DEPARTMENT_STAFF:
        if board.key.isdigit() and int(board.key) in actor.department_ids:
            return None
        return f"只能查看本部门（含派驻机构）的看板，不能查看部门 {board.key} 的看板"
    return f"{ROLE_LABELS[actor.role]}不能查看{_BOARD_LABELS[board.kind]}"


def own_boards(actor: Actor) -> list[BoardKind]:
    """Return the kinds of board the user may watch: the county, or their own township or dept."""
    candidates = [Board(BoardKind.COUNTY)]
    if actor.township_code:
        candidates.append(Board(BoardKind.TOWNSHIP, actor.township_code))
    if actor.department_id is not None:
        candidates.append(Board(BoardKind.DEPARTMENT, str(actor.department_id)))
    return [board.kind for board in candidates if board_refusal(actor, board) is None]


_BOARD_LABELS = {
    BoardKind.COUNTY: "县指挥中心看板",
    BoardKind.TOWNSHIP: "乡镇看板",
    BoardKind.DEPARTMENT: "部门看板",
    BoardKind.EVENT: "事件",
}
