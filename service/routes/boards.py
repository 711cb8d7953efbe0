"""The live boards: county, township, department and one event, over websockets.

Browsers cannot set headers on a websocket, so the token comes as a subprotocol: the client
offers `Sec-WebSocket-Protocol: bearer, <token>` and the server accepts `bearer`. Never in the
URL, which access logs and proxies record. A refused client is accepted and then closed with
4000 + the HTTP status of its error (4401 not signed in, 4403 outside its scope, 4404 no such
event; `service.errors.close_code_for`), so that it can tell them apart from a network
failure. An open board re-checks its viewer every `RECHECK_S`: a deactivated user, an expired
token or a scope withdrawn closes it the same way.
"""

from __future__ import annotations

import json
import logging
import random
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, FastAPI, Query, WebSocket
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from dispatch.boards.snapshot import CARDS_LIMIT, board_cards, board_refusal, board_snapshot
from dispatch.boards.streams import Board, BoardKind
from dispatch.core.bounds import Id, Seq
from dispatch.core.db import session_scope
from dispatch.core.errors import DomainError, Forbidden, Unauthorized
from dispatch.events.read import event_detail
from dispatch.events.schemas import EventCards
from dispatch.events.scopes import event_scope
from dispatch.events.service import get_event
from dispatch.reference.departments import with_units
from dispatch.users.policy import Action, Actor, authorize
from dispatch.users.scopes import actor_for
from dispatch.users.tokens import user_from_token
from service.deps import NOT_SIGNED_IN, CurrentActor, SessionDep
from service.errors import close_code_for
from service.live import Closing, Hubs, Recheck, SnapshotMaker, Watch, serve_board

router = APIRouter()
log = logging.getLogger(__name__)

CLOSE_UNAVAILABLE = 1011  # the server cannot serve boards now (no Redis)
BEARER_PROTOCOL = "bearer"
# How often an open board checks that its viewer may still watch (one short transaction).
RECHECK_S = 3.0

Since = Annotated[Seq | None, Query()]
Epoch = Annotated[str | None, Query(max_length=64)]
CardIds = Annotated[list[Id], Query(max_length=CARDS_LIMIT)]


def _admit(app: FastAPI, token: str | None, board: Board) -> frozenset[int]:
    """Check the token and the user's scope; return the department ids a department board shows."""
    if not token:
        raise Unauthorized(NOT_SIGNED_IN)
    with session_scope(app.state.engine) as session:
        user = user_from_token(session, token, app.state.settings)
        actor = actor_for(session, user)
        if board.kind is BoardKind.EVENT:
            event = get_event(session, int(board.key))
            authorize(actor, Action.VIEW_EVENT, event=event_scope(session, event))
            return frozenset()
        refusal = board_refusal(actor, board)
        if refusal is not None:
            raise Forbidden(refusal)
        if board.kind is BoardKind.DEPARTMENT:
            return with_units(session, int(board.key))
        return frozenset()


def _snapshot_maker(app: FastAPI, board: Board, department_ids: frozenset[int]) -> SnapshotMaker:
    def take() -> str:
        with session_scope(app.state.engine) as session:
            body: dict[str, object] = {
                "type": "snapshot",
                "board": board.kind.value,
                "key": board.key,
            }
            if board.kind is BoardKind.EVENT:
                body["event"] = event_detail(
                    session, get_event(session, int(board.key))
                ).model_dump(mode="json")
            else:
                body["events"] = board_snapshot(session, board, department_ids=department_ids)
                if board.kind is BoardKind.DEPARTMENT:
                    body["department_ids"] = sorted(department_ids)
        return json.dumps(body, ensure_ascii=False, default=str)

    async def make() -> str:
        return await to_thread.run_sync(take)

    return make


def offered_token(websocket: WebSocket) -> str | None:
    """Return the token a client offered as the subprotocol after `bearer`, if any."""
    offered: list[str] = list(websocket.scope.get("subprotocols") or [])
    if BEARER_PROTOCOL not in offered:
        return None
    rest = [p for p in offered if p != BEARER_PROTOCOL]
    return rest[0] if rest else None


def _closing(exc: DomainError) -> Closing:
    # A close reason is limited to 123 bytes; the Chinese message is cut to fit.
    return close_code_for(exc), exc.message.encode()[:120].decode(errors="ignore")


def _rechecker(websocket: WebSocket, token: str | None, board: Board) -> Recheck:
    async def recheck() -> Closing | None:
        try:
            await to_thread.run_sync(_admit, websocket.app, token, board)
        except DomainError as exc:
            return _closing(exc)
        except SQLAlchemyError as exc:
            # The database is away: REST answers 503 meanwhile; keep the board, check again.
            log.warning("board viewer re-check failed, keeping the board: %s", exc)
        return None

    return recheck


async def _serve(websocket: WebSocket, board: Board, since: int | None, epoch: str | None) -> None:
    offered = BEARER_PROTOCOL in (websocket.scope.get("subprotocols") or [])
    await websocket.accept(subprotocol=BEARER_PROTOCOL if offered else None)
    hubs: Hubs | None = websocket.app.state.hubs
    if hubs is None:
        await websocket.close(CLOSE_UNAVAILABLE, "实时看板需要 Redis (REDIS_URL)")
        return
    token = offered_token(websocket)
    try:
        department_ids = await to_thread.run_sync(_admit, websocket.app, token, board)
    except DomainError as exc:
        await websocket.close(*_closing(exc))
        return
    maker = _snapshot_maker(websocket.app, board, department_ids)
    # Jittered, so that boards opened together do not re-check together.
    interval = RECHECK_S * random.uniform(0.8, 1.0)
    watch = Watch(_rechecker(websocket, token, board), interval)
    await serve_board(websocket, hubs, board, maker, since=since, epoch=epoch, watch=watch)


@router.websocket("/ws/boards/county")
async def county_board(websocket: WebSocket, since: Since = None, epoch: Epoch = None) -> None:
    """The county command centre's board: every open event of the county."""
    await _serve(websocket, Board(BoardKind.COUNTY), since, epoch)


@router.websocket("/ws/boards/township/{code}")
async def township_board(
    websocket: WebSocket, code: str, since: Since = None, epoch: Epoch = None
) -> None:
    """A township's board: the events in its territory."""
    await _serve(websocket, Board(BoardKind.TOWNSHIP, code), since, epoch)


@router.websocket("/ws/boards/department/{department_id}")
async def department_board(
    websocket: WebSocket,
    department_id: Id,
    since: Since = None,
    epoch: Epoch = None,
) -> None:
    """A department's inbox: its assignments and those of its stationed units."""
    await _serve(websocket, Board(BoardKind.DEPARTMENT, str(department_id)), since, epoch)


@router.websocket("/ws/events/{event_id}")
async def event_board(
    websocket: WebSocket,
    event_id: Id,
    since: Since = None,
    epoch: Epoch = None,
) -> None:
    """One event's live timeline."""
    await _serve(websocket, Board(BoardKind.EVENT, str(event_id)), since, epoch)


# ---- Cards on demand: what a board's client fetches when a compact delta names a card it
# lacks (an event new to the board, or a version gap); the same scope as the websocket.


def _cards(session: Session, actor: Actor, board: Board, ids: list[int]) -> EventCards:
    refusal = board_refusal(actor, board)
    if refusal is not None:
        raise Forbidden(refusal)
    units = with_units(session, int(board.key)) if board.kind is BoardKind.DEPARTMENT else None
    found = board_cards(session, board, ids, department_ids=units or frozenset())
    return EventCards.model_validate({"cards": found})


@router.get("/api/boards/county/cards")
def county_cards(session: SessionDep, actor: CurrentActor, ids: CardIds) -> EventCards:
    """The county board's cards of these events (at most 200 ids)."""
    return _cards(session, actor, Board(BoardKind.COUNTY), ids)


@router.get("/api/boards/township/{code}/cards")
def township_cards(session: SessionDep, actor: CurrentActor, code: str, ids: CardIds) -> EventCards:
    """A township board's cards of these events: those in its territory."""
    return _cards(session, actor, Board(BoardKind.TOWNSHIP, code), ids)


@router.get("/api/boards/department/{department_id}/cards")
def department_cards(
    session: SessionDep, actor: CurrentActor, department_id: Id, ids: CardIds
) -> EventCards:
    """A department inbox's cards of these events: those with a part of its own or its units'."""
    return _cards(session, actor, Board(BoardKind.DEPARTMENT, str(department_id)), ids)
