"""A county's settings for supervision, extensions and escalations: read by all, set by admins."""

from __future__ import annotations

from fastapi import APIRouter

from dispatch.reference.county_rules import (
    CountyRulesPublic,
    CountyRulesUpdate,
    county_rules_public,
    update_county_rules,
)
from dispatch.users.policy import Action, authorize
from service.deps import CurrentActor, CurrentUser, SessionDep
from service.routes.reference import RequestCounty

router = APIRouter(tags=["reference"])


@router.get("/county-rules")
def read_county_rules(
    session: SessionDep, user: CurrentUser, county: RequestCounty
) -> CountyRulesPublic:
    """Return the county's settings: the extension limit, the escalation time, the rules."""
    return county_rules_public(session, county)


@router.put("/county-rules")
def change_county_rules(
    body: CountyRulesUpdate, session: SessionDep, actor: CurrentActor, county: RequestCounty
) -> CountyRulesPublic:
    """Change the county's settings (administrators)."""
    authorize(actor, Action.MANAGE_REFERENCE)
    return update_county_rules(session, county, body)
