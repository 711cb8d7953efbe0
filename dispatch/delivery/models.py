"""Webhook deliveries: each new assignment sent to a department's own system."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import BigId, StrEnumType
from dispatch.events import models as _events  # noqa: F401  (tables our foreign keys name)


class DeliveryStatus(StrEnum):
    """Where a delivery is: being sent, waiting to retry, delivered, given up, or cancelled."""

    PENDING = "pending"
    SENDING = "sending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class WebhookDelivery(SQLModel, table=True):
    """One attempt series to deliver an assignment to a department's own system."""

    __tablename__ = "webhook_delivery"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    assignment_id: int = Field(foreign_key="assignment.id", index=True, sa_type=BigId)
    url: str = Field(max_length=1000)
    attempts: int = 0
    status: DeliveryStatus = Field(
        default=DeliveryStatus.PENDING, sa_type=StrEnumType(DeliveryStatus, 16)
    )
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=2000)
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
