"""Load the illustrative demo county: boundaries, departments, platforms and two list versions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlmodel import Session, select

from dispatch.demo import DATA_DIR, LAYER_FILES, demo_file
from dispatch.demo.catalogue import MATTER_LISTS
from dispatch.reference.calendar import ensure_default_calendars
from dispatch.reference.departments import ensure_township_platforms, import_departments
from dispatch.reference.jurisdictions import LayerImportReport, import_layer
from dispatch.reference.lists.importer import import_matter_list
from dispatch.reference.models import MatterList
from geo.geojson import FieldMapping
from geo.levels import Level

DEMO_COUNTY_CODE = "320999"
LIST_FILES = {1: "matter_list.csv", 2: "matter_list_v2.csv"}
ProgressFactory = Callable[[str], Callable[[int, int], None] | None]


@dataclass
class DemoLoadReport:
    """What loading the demo did; running it again reports everything unchanged."""

    layers: list[LayerImportReport] = field(default_factory=list)
    departments_created: int = 0
    platform_departments_created: int = 0
    list_versions_created: list[int] = field(default_factory=list)
    calendar_days_created: int = 0


def load_demo(session: Session, progress: ProgressFactory | None = None) -> DemoLoadReport:
    """Import the demo data into an empty or already-seeded database; idempotent."""
    report = DemoLoadReport()
    for level_name, file_name in LAYER_FILES.items():
        level = Level(level_name)
        mapping = FieldMapping(
            name="name",
            code="code",
            parent=None if level is Level.COUNTY else "parent_code",
            population="population",
        )
        layer = import_layer(
            session,
            (DATA_DIR / file_name).read_bytes(),
            level=level,
            mapping=mapping,
            source=f"demo/{file_name}",
            progress=progress(level.value) if progress else None,
        )
        report.layers.append(layer)
    departments = import_departments(session, demo_file("departments.csv"))
    report.departments_created = departments.created
    report.platform_departments_created = ensure_township_platforms(session)
    report.calendar_days_created = ensure_default_calendars(session)
    # The lists are loaded once: importing v1 again after v2 would make a v3 equal to v1.
    has_lists = session.exec(
        select(MatterList.id).where(MatterList.county_code == DEMO_COUNTY_CODE).limit(1)
    ).first()
    if has_lists is None:
        for version in MATTER_LISTS:
            imported = import_matter_list(
                session,
                demo_file(LIST_FILES[version.version]),
                county_code=DEMO_COUNTY_CODE,
                effective_from=version.effective_from,
                source_document=version.source_document,
                publish=True,
            )
            report.list_versions_created.append(imported.version)
    return report
