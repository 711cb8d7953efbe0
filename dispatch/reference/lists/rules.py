"""The pure snapshot of one list version, as routing and classification read it."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from types import MappingProxyType

from dispatch.reference.models import (
    HandlingMode,
)

# Canonical township duty tags and the words that signal each in free text.
DUTY_TAGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("巡查发现", ("巡查", "发现", "排查", "摸排", "巡逻")),
    ("劝阻制止", ("劝阻", "制止", "劝导", "劝离", "阻止")),
    ("报告移送", ("报告", "移送", "上报", "报送", "移交", "抄告")),
    ("配合", ("配合", "协助", "协同", "参与", "协查")),
    ("督促整改", ("督促", "整改", "督导")),
)


# ---- Pure snapshot ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatterRule:
    """One matter of a list as routing and classification see it."""

    code: str
    name: str
    row_number: int
    platform_code: str | None
    keywords: tuple[str, ...]
    lead_department_id: int | None
    co_department_ids: tuple[int, ...]
    department_duties: str | None
    township_duties: tuple[str, ...]
    township_duties_text: str | None
    mode: HandlingMode
    sign_hours: float | None = None
    handle_days: float | None = None
    urgent_sign_hours: float | None = None
    urgent_handle_hours: float | None = None
    legal_basis: str | None = None


@dataclass(frozen=True)
class MatterRules:
    """A read-only snapshot of one version of a county's list."""

    list_id: int | None
    county_code: str
    version: int
    effective_from: date | None
    matters: tuple[MatterRule, ...]
    _by_code: Mapping[str, MatterRule] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not self._by_code and self.matters:
            index = {code_key(m.code): m for m in self.matters}
            object.__setattr__(self, "_by_code", MappingProxyType(index))

    def get(self, code: str) -> MatterRule | None:
        """Return the matter with this code, ignoring case, width and spaces."""
        return self._by_code.get(code_key(code))

    @property
    def label(self) -> str:
        """Return how reasons name this version, e.g. 清单 v3."""
        return f"清单 v{self.version}"


def code_key(code: str) -> str:
    """Normalise a matter code for lookup: C-012, c-012 and Ｃ－０１２ are one."""
    return "".join(unicodedata.normalize("NFKC", code).split()).upper()


def township_duty_tags(text: str) -> tuple[str, ...]:
    """Extract the canonical township duty tags a duty text mentions, in canonical order."""
    folded = unicodedata.normalize("NFKC", text)
    return tuple(tag for tag, words in DUTY_TAGS if any(word in folded for word in words))


def content_digest(matters: Iterable[MatterRule]) -> str:
    """Return a SHA-256 over a list's matters, independent of file format and row order."""
    canonical = []
    for matter in sorted(matters, key=lambda m: (m.row_number, m.code)):
        item = asdict(matter)
        item["co_department_ids"] = sorted(matter.co_department_ids)
        canonical.append(item)
    payload = json.dumps(canonical, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()
