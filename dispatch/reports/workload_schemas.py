"""The staffing office's evidence as the API sends it: workload, duties against work, the
revision agenda, townships, and the disputes report (docs/METRICS.md defines every figure)."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from dispatch.disputes.models import DisputeStatus, DisputeTrigger, ListChangeStatus
from dispatch.reference.models import DepartmentKind


class PeriodPublic(SQLModel):
    """The report's period: China days, both included."""

    first: date = Field(description="起始日期（含）")
    last: date = Field(description="截止日期（含）")
    label: str = Field(description="统计区间，如 2026-11-01 至 2026-11-30")


class WorkloadRow(SQLModel):
    """One department's or stationed unit's work in the period, with its posts."""

    department_id: int
    name: str
    short_name: str | None
    kind: DepartmentKind
    parent_id: int | None = Field(description="派驻机构所属的县级部门")
    parent_name: str | None
    parts: int = Field(description="派单数：本期派给该单位的任务")
    held: int = Field(description="承办数：已反馈或仍在办的任务（不含退回）")
    handled: int = Field(description="办结数：已反馈的任务")
    handled_lead: int = Field(description="牵头任务办结数")
    handled_co: int = Field(description="协办任务办结数")
    handled_territorial: int = Field(description="属地任务办结数")
    weighted_work: float = Field(description="加权工作量：办结任务的事项权重之和")
    authorised_staff: int | None = Field(description="编制数")
    actual_staff: int | None = Field(description="实有人数")
    staff_gap: int | None = Field(description="空编数：编制数 − 实有人数")
    work_per_post: float | None = Field(description="每个编制的加权工作量")
    work_per_person: float | None = Field(description="人均加权工作量（按实有人数）")
    saturation: float | None = Field(description="工作饱和度：人均加权工作量 ÷ 全县中位数")
    timed: int = Field(description="有签收时间的办结任务数（计入办理用时）")
    handling_hours_total: float = Field(description="办理用时合计（小时，签收至反馈）")
    handling_hours_median: float | None = Field(description="办理用时中位数（小时）")
    overdue: int = Field(description="超期数：反馈晚于办结时限，或仍在办且已过时限")
    overdue_rate: float | None = Field(description="超期率：超期数 ÷ 承办数")


class MatterRef(SQLModel):
    """A matter of the list by its code and name."""

    code: str
    name: str | None


class UnusedDuty(SQLModel):
    """A matter a department leads on the list in force that no event of the period raised."""

    department_id: int
    department_name: str
    matter: MatterRef


class HandledElsewhere(SQLModel):
    """Lead work a department fed back on a matter the routing list gives to another."""

    department_id: int = Field(description="反馈牵头任务的单位")
    department_name: str
    matter: MatterRef
    listed_lead_id: int = Field(description="清单规定的牵头部门")
    listed_lead_name: str
    parts: int = Field(description="该单位反馈的牵头任务数")
    event_ids: list[int] = Field(description="事件（最多 20 个，新的在前）")


class DisputePair(SQLModel):
    """Two departments (stationed units counted with their county department) in disputes."""

    first_id: int
    first_name: str
    second_id: int
    second_name: str
    disputes: int
    dispute_ids: list[int]
    event_ids: list[int]


class ChangeRef(SQLModel):
    """A list change request by its id and status."""

    id: int
    status: ListChangeStatus


class AgendaItem(SQLModel):
    """One matter of the revision agenda: how often it came back and was disputed."""

    rank: int
    matter: MatterRef
    listed_lead_name: str | None = Field(description="现行清单的牵头部门")
    returns: int = Field(description="退回次数（本期派出的任务）")
    returned_parts: int = Field(description="被退回过的任务数")
    disputes: int = Field(description="本期发起的争议数")
    event_ids: list[int] = Field(description="被退回或有争议的事件（最多 20 个）")
    dispute_ids: list[int]
    pairs: list[DisputePair]
    changes: list[ChangeRef] = Field(description="该事项的清单调整申请")


class TownshipRow(SQLModel):
    """One township's events in the period, against its population."""

    township_code: str
    name: str
    population: int | None
    events: int = Field(description="事件数（不含无效、已合并）")
    events_per_10k: float | None = Field(description="每万人事件数")
    self_handled: int = Field(description="乡镇自办数：即报即办，或乡镇平台牵头并反馈")
    self_handled_rate: float | None = Field(description="自办率")
    escalations: int = Field(description="乡呼县应次数")
    verification_failures: int = Field(description="核查不通过次数")


class WorkloadReport(SQLModel):
    """GET /api/reports/workload: the staffing office's evidence for one period."""

    period: PeriodPublic
    generated_at: datetime
    median_work_per_person: float | None = Field(
        description="全县人均加权工作量中位数（有实有人数且本期有加权工作量的单位）"
    )
    median_basis: int = Field(description="参与中位数的单位数")
    matter_weights: dict[str, float] = Field(description="县定事项权重（未列出的为 1）")
    rows: list[WorkloadRow]
    unused_duties: list[UnusedDuty]
    handled_elsewhere: list[HandledElsewhere]
    agenda: list[AgendaItem]
    townships: list[TownshipRow]


class DisputeLine(SQLModel):
    """One dispute of the period: who contested, who was ruled to lead, how long it took."""

    id: int
    event_id: int
    matter: MatterRef
    trigger: DisputeTrigger
    status: DisputeStatus
    opened_at: datetime
    ruled_at: datetime | None
    hours_to_ruling: float | None = Field(description="发起至裁定的小时数")
    party_names: list[str] = Field(description="退回的单位（派驻机构计入所属部门）")
    listed_lead_name: str | None = Field(description="路由时清单规定的牵头部门")
    ruled_lead_id: int | None
    ruled_lead_name: str | None = Field(description="裁定的牵头部门")
    kept_list: bool | None = Field(description="裁定牵头部门与清单一致")
    minutes_ref: str | None = Field(description="会议纪要号")
    change_ids: list[int] = Field(description="由该争议提出的清单调整申请")


class DisputeMatter(SQLModel):
    """The disputes of one matter in the period."""

    matter: MatterRef
    disputes: int
    ruled: int
    kept_list: int = Field(description="裁定维持清单牵头部门")
    moved_lead: int = Field(description="裁定改由他部门牵头")
    hours_to_ruling_median: float | None
    change_ids: list[int]


class RuledLead(SQLModel):
    """How often a department was ruled to lead."""

    department_id: int
    name: str
    disputes: int


class DisputesReport(SQLModel):
    """GET /api/reports/disputes: the period's disputes, by matter, pair and ruling."""

    period: PeriodPublic
    generated_at: datetime
    disputes: int
    ruled: int
    open: int
    hours_to_ruling_median: float | None
    by_matter: list[DisputeMatter]
    by_pair: list[DisputePair]
    by_ruled_lead: list[RuledLead]
    lines: list[DisputeLine]
