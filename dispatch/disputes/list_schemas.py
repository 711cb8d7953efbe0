"""What the list pages read and post: change requests with their evidence, versions, diffs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from sqlmodel import Field, SQLModel

from dispatch.disputes.models import ListChangeKind, ListChangeSource, ListChangeStatus
from dispatch.disputes.schemas import ListChangeProposal
from dispatch.reference.models import HandlingMode, ListStatus

CHANGE_KIND_LABELS: Mapping[ListChangeKind, str] = {
    ListChangeKind.MOVE_LEAD: "调整牵头部门",
    ListChangeKind.ADD_CO: "增加配合部门",
    ListChangeKind.ADD_KEYWORDS: "增加关键词",
    ListChangeKind.NEW_MATTER: "新增事项",
}
CHANGE_STATUS_LABELS: Mapping[ListChangeStatus, str] = {
    ListChangeStatus.PENDING: "待审核",
    ListChangeStatus.ACCEPTED: "已采纳（待发布）",
    ListChangeStatus.REJECTED: "未采纳",
    ListChangeStatus.PUBLISHED: "已发布",
}
CHANGE_SOURCE_LABELS: Mapping[ListChangeSource, str] = {
    ListChangeSource.RULING: "争议裁定",
    ListChangeSource.WRITTEN: "书面申请",
}
MATTER_CHANGE_LABELS: Mapping[str, str] = {"added": "新增", "removed": "删除", "changed": "修改"}


class ListChangeCreate(ListChangeProposal):
    """A written application to change the list, optionally naming the county."""

    county: str | None = Field(
        default=None, max_length=40, description="县级辖区编码；默认为申请人所在的县"
    )


class ReviewNote(SQLModel):
    """The staffing office's note on accepting a request (optional)."""

    note: str | None = Field(default=None, max_length=2000, description="审核意见")


class RejectNote(SQLModel):
    """The staffing office's reason for rejecting a request (required)."""

    note: str = Field(min_length=1, max_length=2000, description="不予采纳的理由")


class PublishList(SQLModel):
    """When a draft takes effect."""

    effective_from: date = Field(description="生效日期（北京时间）")


class ListChangePublic(SQLModel):
    """A change request as lists show it."""

    id: int
    county_code: str
    kind: ListChangeKind = Field(description="调整类型")
    matter_code: str = Field(description="事项编码")
    matter_name: str | None = Field(default=None, description="事项名称（现行清单或新增事项）")
    summary: str = Field(description="调整内容")
    proposal: dict[str, object] = Field(description="调整内容（结构化）")
    basis: str | None = Field(default=None, description="申请依据")
    reasons: str = Field(description="申请理由")
    source: ListChangeSource = Field(description="来源：争议裁定或书面申请")
    dispute_id: int | None = Field(default=None, description="所属争议")
    base_list_id: int | None = Field(default=None, description="申请时的现行清单")
    applicant: str | None = Field(default=None, description="申请单位")
    submitted_at: datetime = Field(description="提交时间")
    status: ListChangeStatus = Field(description="状态")
    reviewed_at: datetime | None = Field(default=None, description="审核时间")
    review_note: str | None = Field(default=None, description="审核意见")
    draft_list_id: int | None = Field(default=None, description="采纳后并入的草稿")
    event_ids: list[int] = Field(description="作为证据的事件")


class DisputeBrief(SQLModel):
    """The dispute a ruling's request came from."""

    id: int
    event_id: int = Field(description="争议的事件")
    status: str = Field(description="争议状态")
    minutes_ref: str | None = Field(default=None, description="会议纪要编号")
    reasoning: str | None = Field(default=None, description="裁定理由")


class EvidenceEvent(SQLModel):
    """An event a request cites, in brief."""

    id: int
    description: str = Field(description="事件描述（节选）")
    matter_code: str | None = Field(default=None, description="事项编码")
    status: str = Field(description="事件状态")


class ListMatterPublic(SQLModel):
    """One matter of a list version, with department names."""

    code: str = Field(description="事项编码")
    row_number: int = Field(description="序号")
    name: str = Field(description="事项名称")
    platform_code: str | None = Field(default=None, description="平台")
    platform_name: str | None = Field(default=None, description="平台名称")
    lead_department_id: int | None = Field(default=None, description="牵头部门")
    lead_name: str | None = Field(default=None, description="牵头部门名称")
    co_department_ids: list[int] = Field(description="配合部门")
    co_names: list[str] = Field(description="配合部门名称")
    department_duties: str | None = Field(default=None, description="部门职责")
    township_duties: list[str] = Field(description="乡镇职责要点")
    township_duties_text: str | None = Field(default=None, description="乡镇职责")
    legal_basis: str | None = Field(default=None, description="法律依据")
    mode: HandlingMode = Field(description="处置方式")
    sign_hours: float | None = Field(default=None, description="签收时限（小时）")
    handle_days: float | None = Field(default=None, description="办结时限（工作日）")
    urgent_sign_hours: float | None = Field(default=None, description="紧急签收时限（小时）")
    urgent_handle_hours: float | None = Field(default=None, description="紧急办结时限（小时）")
    keywords: list[str] = Field(description="关键词")


class ListChangeDetail(ListChangePublic):
    """A change request with its evidence: the dispute, the events, the matter's entry now."""

    dispute: DisputeBrief | None = Field(default=None, description="来源争议")
    events: list[EvidenceEvent] = Field(description="证据事件")
    matter: ListMatterPublic | None = Field(default=None, description="现行清单中的该事项")


class MatterListPublic(SQLModel):
    """One version of a county's list."""

    id: int
    county_code: str
    version: int = Field(description="版本号")
    status: ListStatus = Field(description="状态")
    effective_from: date = Field(description="生效日期")
    published_at: datetime | None = Field(default=None, description="发布时间")
    superseded_at: datetime | None = Field(default=None, description="被替代时间")
    source_document: str | None = Field(default=None, description="来源文件")
    in_force: bool = Field(description="是否为现行版本")
    matter_count: int = Field(description="事项数")
    change_count: int = Field(description="并入的调整申请数")


class MatterListDetail(MatterListPublic):
    """A version with its matters (those matching the search, when searched)."""

    matters: list[ListMatterPublic] = Field(description="事项")


class ColumnChangePublic(SQLModel):
    """One column of a matter, old and new."""

    column: str
    label: str = Field(description="列名")
    old: str = Field(description="原内容")
    new: str = Field(description="新内容")


class MatterChangePublic(SQLModel):
    """One matter that differs between two versions."""

    code: str = Field(description="事项编码")
    name: str = Field(description="事项名称")
    change: str = Field(description="added 新增、removed 删除、changed 修改")
    columns: list[ColumnChangePublic] = Field(description="逐列变化")


class ListDiff(SQLModel):
    """What a version changes against another (by default the version in force)."""

    version: MatterListPublic = Field(description="本版本")
    against: MatterListPublic | None = Field(default=None, description="对照版本")
    matters: list[MatterChangePublic] = Field(description="逐项变化")
    changes: list[ListChangePublic] = Field(description="并入的调整申请")
