"""The shapes of a supervision notice (督办) over the API: one family, a base and its page."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from dispatch.events.models import AssignmentRole, AssignmentStatus, NoticeLevel, NoticeStatus


class NoticeBase(SQLModel):
    """What every shape of a notice shows."""

    id: int
    event_id: int
    assignment_id: int
    level: NoticeLevel = Field(description="督办等级：普通、黄牌、红牌")
    status: NoticeStatus = Field(description="待回复、已回复（待反馈）、已关闭")
    automatic: bool = Field(description="是否由县里的督办规则自动发出")
    rule: str | None = Field(description="自动督办所依据的规则，如 handle+1：办结超期 1 个工作日")
    note: str = Field(description="督办内容")
    issued_at: datetime
    reply: str | None = Field(description="部门的回复")
    replied_at: datetime | None
    closed_at: datetime | None = Field(description="任务反馈（或撤销、关闭）而关闭督办的时间")


class NoticePublic(NoticeBase):
    """A notice with the part it chases: its department, state and the deadline it is about."""

    department_id: int
    department_name: str = Field(description="被督办的部门")
    assignment_role: AssignmentRole
    assignment_status: AssignmentStatus
    deadline_kind: str = Field(description="所督办的时限：sign 签收，handle 办结")
    deadline: datetime | None = Field(description="所督办的时限")
    issued_by: str = Field(description="发出督办的人，自动督办为「系统」")
    replied_by: str | None = Field(description="回复督办的人")
    event_summary: str = Field(description="事件描述（前 80 字）")


class NoticesPublic(SQLModel):
    """One page of notices, newest first."""

    data: list[NoticePublic]
    count: int
    offset: int
    limit: int
