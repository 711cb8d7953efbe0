"""The staffing office's workbook: one sheet per view of the evidence and the disputes report."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from dispatch.core.clock import beijing_text
from dispatch.disputes.list_schemas import CHANGE_STATUS_LABELS
from dispatch.disputes.opening import STATUS_LABELS, TRIGGER_LABELS
from dispatch.reference.models import KIND_LABELS
from dispatch.reports.workbook import Column, Kind, Sheet, stream_workbook
from dispatch.reports.workload_schemas import DisputesReport, WorkloadReport

INT, N, R, T = Kind.INTEGER, Kind.NUMBER, Kind.RATE, Kind.TEXT


def _ids(ids: Iterable[int]) -> str:
    return "、".join(str(i) for i in ids)


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("是" if value else "否")


WORKLOAD_COLUMNS = (
    Column("单位", T, 24),
    Column("类型", T, 10),
    Column("所属部门", T, 20),
    Column("派单数", INT, 9),
    Column("承办数", INT, 9),
    Column("办结数", INT, 9),
    Column("牵头办结", INT, 9),
    Column("协办办结", INT, 9),
    Column("属地办结", INT, 9),
    Column("加权工作量", N, 11),
    Column("编制数", INT, 8),
    Column("实有人数", INT, 9),
    Column("空编数", INT, 8),
    Column("每编制工作量", N, 12),
    Column("人均工作量", N, 11),
    Column("全县人均中位数", N, 14),
    Column("工作饱和度", N, 11),
    Column("办理用时合计（小时）", N, 18),
    Column("办理用时中位数（小时）", N, 20),
    Column("超期数", INT, 8),
    Column("超期率", R, 9),
)


def _workload(report: WorkloadReport) -> Iterator[Sequence[object]]:
    for r in report.rows:
        yield (
            r.name,
            KIND_LABELS[r.kind],
            r.parent_name or "",
            r.parts,
            r.held,
            r.handled,
            r.handled_lead,
            r.handled_co,
            r.handled_territorial,
            r.weighted_work,
            r.authorised_staff,
            r.actual_staff,
            r.staff_gap,
            r.work_per_post,
            r.work_per_person,
            report.median_work_per_person,
            r.saturation,
            r.handling_hours_total,
            r.handling_hours_median,
            r.overdue,
            r.overdue_rate,
        )


def workload_sheets(report: WorkloadReport, disputes: DisputesReport) -> list[Sheet]:
    """Return the workbook's sheets: workload, duties, agenda, pairs, disputes, townships."""
    return [
        Sheet("编制评估", WORKLOAD_COLUMNS, _workload(report)),
        Sheet(
            "牵头事项未发生",
            (Column("牵头部门", T, 24), Column("事项编码", T, 10), Column("事项名称", T, 30)),
            [(u.department_name, u.matter.code, u.matter.name) for u in report.unused_duties],
        ),
        Sheet(
            "办理清单外事项",
            (
                Column("办理单位", T, 24),
                Column("事项编码", T, 10),
                Column("事项名称", T, 30),
                Column("清单牵头部门", T, 24),
                Column("牵头任务数", INT, 11),
                Column("事件编号", T, 40),
            ),
            [
                (
                    e.department_name,
                    e.matter.code,
                    e.matter.name,
                    e.listed_lead_name,
                    e.parts,
                    _ids(e.event_ids),
                )
                for e in report.handled_elsewhere
            ],
        ),
        Sheet(
            "修订议程",
            (
                Column("排序", INT, 6),
                Column("事项编码", T, 10),
                Column("事项名称", T, 30),
                Column("现行牵头部门", T, 24),
                Column("争议数", INT, 8),
                Column("退回次数", INT, 9),
                Column("被退回任务数", INT, 12),
                Column("争议部门", T, 40),
                Column("事件编号", T, 40),
                Column("争议编号", T, 20),
                Column("清单调整申请", T, 24),
            ),
            [
                (
                    a.rank,
                    a.matter.code,
                    a.matter.name,
                    a.listed_lead_name,
                    a.disputes,
                    a.returns,
                    a.returned_parts,
                    "；".join(f"{p.first_name}—{p.second_name}（{p.disputes}）" for p in a.pairs),
                    _ids(a.event_ids),
                    _ids(a.dispute_ids),
                    "、".join(f"#{c.id} {CHANGE_STATUS_LABELS[c.status]}" for c in a.changes),
                )
                for a in report.agenda
            ],
        ),
        Sheet(
            "争议部门对",
            (
                Column("部门甲", T, 24),
                Column("部门乙", T, 24),
                Column("争议数", INT, 8),
                Column("争议编号", T, 24),
                Column("事件编号", T, 40),
            ),
            [
                (p.first_name, p.second_name, p.disputes, _ids(p.dispute_ids), _ids(p.event_ids))
                for p in disputes.by_pair
            ],
        ),
        Sheet(
            "争议裁定",
            (
                Column("争议编号", INT, 9),
                Column("事件编号", INT, 9),
                Column("事项编码", T, 10),
                Column("事项名称", T, 24),
                Column("发起方式", T, 18),
                Column("状态", T, 8),
                Column("发起时间", T, 17),
                Column("裁定时间", T, 17),
                Column("裁定用时（小时）", N, 15),
                Column("退回单位", T, 30),
                Column("清单牵头部门", T, 24),
                Column("裁定牵头部门", T, 24),
                Column("维持清单", T, 9),
                Column("会议纪要号", T, 16),
                Column("清单调整申请", T, 16),
            ),
            [
                (
                    d.id,
                    d.event_id,
                    d.matter.code,
                    d.matter.name,
                    TRIGGER_LABELS[d.trigger],
                    STATUS_LABELS[d.status],
                    beijing_text(d.opened_at),
                    beijing_text(d.ruled_at) if d.ruled_at else "",
                    d.hours_to_ruling,
                    "、".join(d.party_names),
                    d.listed_lead_name,
                    d.ruled_lead_name,
                    _yes_no(d.kept_list),
                    d.minutes_ref,
                    _ids(d.change_ids),
                )
                for d in disputes.lines
            ],
        ),
        Sheet(
            "乡镇",
            (
                Column("乡镇（街道）", T, 16),
                Column("常住人口", INT, 10),
                Column("事件数", INT, 8),
                Column("每万人事件数", N, 12),
                Column("自办数", INT, 8),
                Column("自办率", R, 8),
                Column("乡呼县应", INT, 9),
                Column("核查不通过", INT, 10),
            ),
            [
                (
                    t.name,
                    t.population,
                    t.events,
                    t.events_per_10k,
                    t.self_handled,
                    t.self_handled_rate,
                    t.escalations,
                    t.verification_failures,
                )
                for t in report.townships
            ],
        ),
    ]


def stream_workload_book(report: WorkloadReport, disputes: DisputesReport) -> Iterator[bytes]:
    """Write the staffing office's workbook and yield it in chunks."""
    return stream_workbook(workload_sheets(report, disputes))
