"""The words the pages show for the API's codes, from the one place each is defined.

`python -m service.vocabulary > frontend/src/vocabulary.json` (`./dev types` does it); the
pages import that file, so a status, a role or a mode is labelled the same in an error
message, a step, the CLI and on every page, and "open" means the same everywhere.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from dispatch.disputes.list_schemas import (
    CHANGE_KIND_LABELS,
    CHANGE_SOURCE_LABELS,
    CHANGE_STATUS_LABELS,
    MATTER_CHANGE_LABELS,
)
from dispatch.events.came_back import CAME_BACK_LABELS
from dispatch.events.lifecycle import (
    ASSIGNMENT_LABELS,
    EVENT_LABELS,
    MERGEABLE,
    OPEN,
    PART_ROLE_LABELS,
)
from dispatch.events.schemas import SOURCE_LABELS
from dispatch.events.steps import STEP_ACTION_LABELS
from dispatch.jobs.health import REASON_LABELS
from dispatch.reference.models import KIND_LABELS, LIST_STATUS_LABELS, MODE_LABELS
from dispatch.reports.measures import MEASURES
from dispatch.supervision.extensions import EXTENSION_LABELS
from dispatch.supervision.notices import NOTICE_LEVEL_LABELS, NOTICE_STATUS_LABELS
from dispatch.users.policy import ROLE_LABELS
from geo.levels import LEVEL_LABELS


def vocabulary() -> dict[str, Any]:
    """Return every label table and the open statuses, keyed by code."""
    return {
        "event_status": {s.value: label for s, label in EVENT_LABELS.items()},
        "assignment_status": {s.value: label for s, label in ASSIGNMENT_LABELS.items()},
        "assignment_role": {r.value: label for r, label in PART_ROLE_LABELS.items()},
        "came_back": {k.value: label for k, label in CAME_BACK_LABELS.items()},
        "user_role": {r.value: label for r, label in ROLE_LABELS.items()},
        "handling_mode": {m.value: label for m, label in MODE_LABELS.items()},
        "department_kind": {k.value: label for k, label in KIND_LABELS.items()},
        "list_status": {s.value: label for s, label in LIST_STATUS_LABELS.items()},
        "jurisdiction_level": {lv.value: label for lv, label in LEVEL_LABELS.items()},
        "open_event_status": [s.value for s in OPEN],
        "mergeable_event_status": [s.value for s in MERGEABLE],
        "health_reason": {r.value: label for r, label in REASON_LABELS.items()},
        "step_action": dict(STEP_ACTION_LABELS),
        "report_source": {s.value: label for s, label in SOURCE_LABELS.items()},
        "list_change_kind": {k.value: label for k, label in CHANGE_KIND_LABELS.items()},
        "list_change_status": {s.value: label for s, label in CHANGE_STATUS_LABELS.items()},
        "list_change_source": {s.value: label for s, label in CHANGE_SOURCE_LABELS.items()},
        "matter_change": dict(MATTER_CHANGE_LABELS),
        "extension_status": {s.value: label for s, label in EXTENSION_LABELS.items()},
        "notice_level": {lv.value: label for lv, label in NOTICE_LEVEL_LABELS.items()},
        "notice_status": {s.value: label for s, label in NOTICE_STATUS_LABELS.items()},
        "measure": {
            m.key: {"label": m.label, "unit": m.unit.value, "higher_is_better": m.higher_is_better}
            for m in MEASURES
        },
    }


def render() -> str:
    """Return the vocabulary as the committed frontend/src/vocabulary.json spells it."""
    return json.dumps(vocabulary(), ensure_ascii=False, indent=2) + "\n"


def main() -> None:
    """Print the vocabulary to stdout."""
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
