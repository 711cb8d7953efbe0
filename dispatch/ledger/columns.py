"""The ledger's columns, each defined once: its header, how it is written, what it means.

The CSV, the XLSX sheet and the API document (GET /api/exports/ledger.*) read this table; a
row (ledger/rows.py) holds one value per column in this order. Times are UTC datetimes here,
written as Beijing time (CSV: 2026/11/20 09:30; XLSX: a date cell).

Parts "in force" are an event's parts that are not cancelled (a re-dispatched or closed part
is cancelled); an event whose parts are all cancelled (merged away) shows the last of each
role. The overdue flags are as of the export: a part or event still open is late once its
deadline has passed.
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.reports.workbook import Column, Kind


@dataclass(frozen=True, slots=True)
class LedgerColumn:
    """One column of the ledger: the workbook column, and its definition in words."""

    header: str
    kind: Kind
    width: float
    meaning: str

    @property
    def column(self) -> Column:
        """Return the column as the workbook writes it."""
        return Column(self.header, self.kind, self.width)


def _c(header: str, kind: Kind, width: float, meaning: str) -> LedgerColumn:
    return LedgerColumn(header, kind, width, meaning)


T, N, X = Kind.TIME, Kind.INTEGER, Kind.TEXT

COLUMNS: tuple[LedgerColumn, ...] = (
    _c("事件编号", N, 10, "事件的编号"),
    _c("上报时间", T, 17, "网格员上报的时间（手机上的时间）"),
    _c("受理时间", T, 17, "系统收到上报的时间；起止日期和时间筛选按此时间"),
    _c("事项编码", X, 10, "分拨所依据的事项编码（即报即办的事件为上报时选的事项）"),
    _c("事项名称", X, 24, "该事项在分拨所用清单版本中的名称"),
    _c("平台", X, 12, "事项所属的乡镇平台"),
    _c("乡镇", X, 12, "事件所在乡镇（街道）"),
    _c("村（社区）", X, 14, "事件所在村或社区"),
    _c("网格", X, 14, "事件所在网格"),
    _c("地址", X, 28, "上报的地址"),
    _c("描述", X, 40, "上报的描述"),
    _c("状态", X, 10, "事件当前状态"),
    _c("牵头部门", X, 22, "现行牵头任务的部门（派驻机构以其自身名称）"),
    _c("协办部门", X, 28, "现行协办任务的部门，以「、」分隔"),
    _c("属地", X, 22, "现行属地任务的乡镇平台"),
    _c("派单时间", T, 17, "首次派单（生成任务）的时间"),
    _c("签收时间", T, 17, "牵头任务首次签收的时间"),
    _c("反馈时间", T, 17, "各任务中最后一次反馈的时间（含重办后的反馈）"),
    _c("核查时间", T, 17, "最后一次核查通过的时间"),
    _c("办结时间", T, 17, "办结（销号）的时间；回访不满意重启后清空"),
    _c("签收时限", T, 17, "现行牵头任务的签收时限（无牵头任务时为事件的签收时限）"),
    _c("办结时限", T, 17, "现行牵头任务的办结时限，含批准的延期（无牵头任务时为事件的办结时限）"),
    _c(
        "签收超期",
        X,
        9,
        "是：有任务首次签收或退回晚于其签收时限，或至导出时仍待签收且已过签收时限",
    ),
    _c(
        "办结超期",
        X,
        9,
        "是：事件办结晚于办结时限，或未办结且至导出时已过办结时限；"
        "或有任务最后反馈晚于其办结时限，或至导出时仍在处置且已过其办结时限",
    ),
    _c("重办次数", N, 9, "核查不通过和回访不满意重启的次数"),
    _c("评价", N, 7, "回访评分 1–5"),
    _c("清单版本", N, 9, "分拨所依据的责任清单版本号"),
    _c("是否销号", X, 9, "是：事件已办结（已办结或已回访）"),
)

HEADERS: tuple[str, ...] = tuple(c.header for c in COLUMNS)
