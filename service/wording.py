"""Request validation errors in words a person reads: one Chinese sentence per pydantic type.

The code stays pydantic's error type (`missing`, `float_parsing`, …); the message names the
field by its Chinese label where the API knows one, else by its path, always in 「」.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# The fields of the API's bodies, queries and paths, as the pages label them.
FIELD_LABELS: Mapping[str, str] = {
    "address": "地址",
    "assignment_id": "任务编号",
    "attachment_id": "照片编号",
    "clause": "依据条款",
    "client_id": "客户端编号",
    "client_secret": "客户端密钥",
    "county": "县",
    "crs": "坐标系",
    "department": "部门",
    "department_id": "部门",
    "description": "描述",
    "display_name": "显示名称",
    "event_id": "事件编号",
    "file": "文件",
    "grant_type": "授权方式",
    "handled_on_site": "即报即办",
    "into_id": "合并到的事件",
    "jurisdiction_code": "辖区",
    "lat": "纬度",
    "level": "辖区层级",
    "limit": "条数",
    "lon": "经度",
    "matter": "事项",
    "matter_code": "事项",
    "note": "说明",
    "offset": "起始位置",
    "passed": "核查结果",
    "password": "密码",
    "platform": "平台",
    "rating": "评价",
    "reason": "理由",
    "reported_at": "上报时间",
    "role": "角色",
    "scope": "范围",
    "simplify_m": "简化距离",
    "since": "起始时间",
    "source": "来源",
    "status": "状态",
    "text": "描述",
    "township": "乡镇",
    "township_code": "乡镇",
    "until": "截止时间",
    "urgency": "紧急程度",
    "urgent": "紧急",
    "username": "用户名",
    "against": "对照版本",
    "basis": "申请依据",
    "co_department_ids": "配合部门",
    "effective_from": "生效日期",
    "event_ids": "证据事件",
    "handle_days": "办结时限",
    "keywords": "关键词",
    "kind": "调整类型",
    "lead_department_id": "牵头部门",
    "legal_basis": "法律依据",
    "reasons": "申请理由",
    "sign_hours": "签收时限",
    "township_duties_text": "乡镇职责",
    "department_duties": "部门职责",
    "platform_code": "平台",
    "change_id": "调整申请编号",
    "list_id": "清单编号",
    "q": "搜索",
    "from": "起始日期",
    "to": "截止日期",
}

FALLBACK = "{field}的值无效"


def field_words(location: str | None) -> str:
    """Name a field for a person: 「描述」 where it has a label, else 「its.path」."""
    if not location:
        return "请求"
    last = location.rsplit(".", 1)[-1]
    return quoted(FIELD_LABELS.get(last, location))


def quoted(text: str) -> str:
    """Put text in 「」; corner brackets inside become 『』 so the quote ends where it should.

    A field path can hold a sender's own key (a dict's), and a 」 in it would end the quote early.
    """
    return "「" + text.replace("「", "『").replace("」", "』") + "」"


def _expected(ctx: Mapping[str, Any]) -> str:
    expected = str(ctx.get("expected", "")).replace(" or ", ",")
    options = [part.strip(" '\"") for part in expected.split(",")]
    return "".join(quoted(option) for option in options if option)


def _limit(ctx: Mapping[str, Any], key: str) -> str:
    value = ctx.get(key, "")
    return f"{value:g}" if isinstance(value, float) else str(value)


Wording = Callable[[str, Mapping[str, Any]], str]

# One sentence per pydantic error type; `f` is the field in words, `c` the error's context.
WORDINGS: Mapping[str, Wording] = {
    "missing": lambda f, c: f"{f}为必填项",
    "float_parsing": lambda f, c: f"{f}应为数字",
    "float_type": lambda f, c: f"{f}应为数字",
    "finite_number": lambda f, c: f"{f}应为有限的数字",
    "int_parsing": lambda f, c: f"{f}应为整数",
    "int_type": lambda f, c: f"{f}应为整数",
    "int_from_float": lambda f, c: f"{f}应为整数",
    "int_parsing_size": lambda f, c: f"{f}超出范围",
    "bool_parsing": lambda f, c: f"{f}应为「true」或「false」",
    "bool_type": lambda f, c: f"{f}应为「true」或「false」",
    "string_type": lambda f, c: f"{f}应为文字",
    "string_too_long": lambda f, c: f"{f}不能超过 {_limit(c, 'max_length')} 个字",
    "string_too_short": lambda f, c: f"{f}至少 {_limit(c, 'min_length')} 个字",
    "string_pattern_mismatch": lambda f, c: f"{f}格式不正确",
    "too_long": lambda f, c: f"{f}最多 {_limit(c, 'max_length')} 项",
    "too_short": lambda f, c: f"{f}至少 {_limit(c, 'min_length')} 项",
    "greater_than_equal": lambda f, c: f"{f}应不小于 {_limit(c, 'ge')}",
    "greater_than": lambda f, c: f"{f}应大于 {_limit(c, 'gt')}",
    "less_than_equal": lambda f, c: f"{f}应不大于 {_limit(c, 'le')}",
    "less_than": lambda f, c: f"{f}应小于 {_limit(c, 'lt')}",
    "enum": lambda f, c: f"{f}取值应为{_expected(c)}之一",
    "literal_error": lambda f, c: f"{f}取值应为{_expected(c)}之一",
    "json_invalid": lambda f, c: "请求体不是有效的 JSON",
    "json_type": lambda f, c: "请求体不是有效的 JSON",
    "model_attributes_type": lambda f, c: f"{f}应为 JSON 对象",
    "dict_type": lambda f, c: f"{f}应为 JSON 对象",
    "list_type": lambda f, c: f"{f}应为列表",
    "uuid_parsing": lambda f, c: f"{f}应为 UUID",
    "uuid_type": lambda f, c: f"{f}应为 UUID",
    "datetime_parsing": lambda f, c: f"{f}应为日期时间，如「2026-11-20T09:30:00+08:00」",
    "datetime_from_date_parsing": lambda f, c: f"{f}应为日期时间，如「2026-11-20T09:30:00+08:00」",
    "datetime_type": lambda f, c: f"{f}应为日期时间，如「2026-11-20T09:30:00+08:00」",
    "date_parsing": lambda f, c: f"{f}应为日期，如「2026-11-20」",
    "date_from_datetime_parsing": lambda f, c: f"{f}应为日期，如「2026-11-20」",
    "extra_forbidden": lambda f, c: f"不认识的字段{f}",
}


def validation_words(error: Mapping[str, Any], location: str | None) -> str:
    """Return the Chinese sentence for one pydantic error at a field."""
    kind = str(error.get("type", ""))
    field = field_words(location)
    wording = WORDINGS.get(kind)
    if wording is not None:
        return wording(field, error.get("ctx") or {})
    if kind == "string_nul":
        return f"{field}{error.get('msg', '')}"
    if kind in {"value_error", "assertion_error"}:
        # Our own validators raise in Chinese; pydantic prefixes "Value error, ".
        ctx = error.get("ctx") or {}
        said = str(ctx.get("error", "")) or str(error.get("msg", ""))
        said = said.removeprefix("Value error, ")
        if any("\u4e00" <= ch <= "\u9fff" for ch in said):
            return said
        # Not ours: the framework's own (FastAPI's "Expected UploadFile, received: str").
        if "UploadFile" in said:
            return f"{field}应为上传的文件"
        return FALLBACK.format(field=field)
    return FALLBACK.format(field=field)
