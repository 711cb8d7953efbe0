"""Deliveries of assignments to departments' own systems, for the command centre."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from dispatch.core.bounds import Offset
from dispatch.delivery.models import DeliveryStatus
from dispatch.delivery.webhooks import DeliveriesPublic, list_deliveries
from dispatch.users.policy import Action, authorize
from service.deps import CurrentActor, SessionDep

router = APIRouter()


@router.get("/deliveries", response_model=DeliveriesPublic)
def read_deliveries(
    session: SessionDep,
    actor: CurrentActor,
    status: DeliveryStatus | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveriesPublic:
    """List webhook deliveries, newest first, each with why its last attempt failed."""
    authorize(actor, Action.SUPERVISE)
    return list_deliveries(session, status=status, offset=offset, limit=limit)
