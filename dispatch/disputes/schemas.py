"""What a list change request says: the shape posted by hand and inside a ruling."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints
from sqlmodel import Field, SQLModel

from dispatch.core.bounds import Id
from dispatch.disputes.models import ListChangeKind

Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class ListChangeProposal(SQLModel):
    """One change to the list: which matter, what changes, on what basis and why."""

    kind: ListChangeKind = Field(
        description="调整类型：move_lead 调整牵头部门，add_co 增加配合部门，"
        "add_keywords 增加关键词，new_matter 新增事项"
    )
    matter_code: str = Field(
        min_length=1, max_length=40, description="事项编码（新增事项时为新编码）"
    )
    lead_department_id: Id | None = Field(
        default=None, description="牵头部门（调整牵头、新增事项）"
    )
    co_department_ids: list[Id] = Field(
        default_factory=list, max_length=20, description="配合部门（增加配合、新增事项）"
    )
    keywords: list[Keyword] = Field(
        default_factory=list, max_length=50, description="关键词（增加关键词、新增事项）"
    )
    name: str | None = Field(default=None, max_length=200, description="事项名称（新增事项）")
    platform_code: str | None = Field(
        default=None, max_length=40, description="所属平台（新增事项）"
    )
    department_duties: str | None = Field(default=None, max_length=4000, description="部门职责")
    township_duties_text: str | None = Field(default=None, max_length=4000, description="乡镇职责")
    legal_basis: str | None = Field(default=None, max_length=4000, description="法律依据")
    sign_hours: float | None = Field(default=None, gt=0, le=720, description="签收时限（小时）")
    handle_days: float | None = Field(default=None, gt=0, le=366, description="办结时限（工作日）")
    basis: str | None = Field(default=None, max_length=2000, description="申请依据（文件、条款）")
    reasons: str = Field(min_length=1, max_length=4000, description="申请理由")
    event_ids: list[Id] = Field(default_factory=list, max_length=200, description="作为证据的事件")
