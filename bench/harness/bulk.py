"""Fill a scratch PostgreSQL database with a year of a large county, set-based, for the benches.

Events spread evenly over the period across the demo townships and list, each with its lead
part, a cooperating part on three in ten and a township part on four in ten; outcomes by a
fixed pseudo-random percentage of the id (pending, signed, returned and redispatched away,
fed back, late, reworked), ratings on seven events in ten, notices and extension requests on
some parts. No steps: the assessment reads the parts' own columns (the test suite checks those
against the steps); the ledger bench adds the steps it reads.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from bench.harness.processes import say

EVENTS_SQL = """
WITH m AS (
  SELECT (ordinality - 1)::int AS i, code, platform_code, lead
  FROM unnest(%(codes)s::text[], %(platforms)s::text[], %(leads)s::bigint[])
       WITH ORDINALITY AS x(code, platform_code, lead)
), t AS (
  SELECT (ordinality - 1)::int AS i, code
  FROM unnest(%(towns)s::text[]) WITH ORDINALITY AS y(code)
)
INSERT INTO event (client_id, status, source, reported_at, received_at, raw_lon, raw_lat, crs,
  lon, lat, description, urgent, handled_on_site, county_code, township_code, matter_code,
  matter_list_id, platform_code, routed_at, sign_by, handle_by, closed_at, rating, rework_count,
  updated_at)
SELECT 'bulk-' || g, CASE WHEN g %% 100 < 70 THEN 'rated' WHEN g %% 100 < 85 THEN 'closed'
    ELSE 'in_progress' END,
  'grid', at, at, 120.1, 31.2, 'wgs84', 120.1, 31.2, '新市街菜场门口有流动摊贩占道卖菜', false,
  false, %(county)s, t.code, m.code, %(list_id)s, m.platform_code, at, at + interval '4 hours',
  at + interval '5 days', CASE WHEN g %% 100 < 85 THEN at + interval '6 days' END,
  CASE WHEN g %% 100 < 70 THEN 5 - (g %% 7 = 0)::int * 3 - (g %% 5 = 0)::int END,
  (g %% 15 = 0)::int, at
FROM generate_series(1, %(n)s) AS g
CROSS JOIN LATERAL (
  SELECT %(start)s::timestamptz + (g::float8 / %(n)s) * %(span)s::interval AS at) AS w
JOIN m ON m.i = g %% %(matters)s
JOIN t ON t.i = (g / 7) %% %(townships)s
"""

# One role's parts: which events get one (share of 100), which department, with what outcome.
PARTS_SQL = """
INSERT INTO assignment (event_id, department_id, role, round, status, duties, sign_by,
  handle_by, signed_at, fed_back_at, created_at, sign_alert, handle_alert, answered_at, returns,
  reworks)
SELECT e.id, d.department_id, %(role)s, 1,
  CASE WHEN r < 5 THEN 'pending' WHEN r < 14 THEN 'signed' WHEN r < 18 THEN 'cancelled'
    ELSE 'fed_back' END,
  '[]', e.routed_at + interval '4 hours', e.routed_at + interval '5 days',
  CASE WHEN r >= 5 AND (r < 14 OR r >= 18) THEN e.routed_at + late END,
  CASE WHEN r >= 18 THEN e.routed_at + (1 + r %% 7) * interval '1 day' END,
  e.routed_at, 0, 0,
  CASE WHEN r >= 5 THEN e.routed_at + late END,
  (r >= 14 AND r < 18)::int, (r >= 18 AND e.rework_count > 0)::int
FROM event e
CROSS JOIN LATERAL (SELECT ((e.id * 7919 + %(salt)s) %% 100)::int AS r) AS p
CROSS JOIN LATERAL (SELECT CASE WHEN r %% 10 = 0 THEN interval '6 hours'
  ELSE interval '50 minutes' END AS late) AS l
JOIN LATERAL (SELECT %(department)s AS department_id) AS d ON true
WHERE e.client_id LIKE 'bulk-%%' AND (e.id %% 100) < %(share)s
"""


def fill(url: str, *, events: int, start: datetime, end: datetime) -> None:
    """Insert the events and their parts, notices and extension requests; then ANALYZE."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        # No triggers: the fill marks no day for the assessment's roll-ups (a million rows,
        # each a mark); the report benches store every day afterwards (reports.rollup).
        conn.execute("SET session_replication_role = replica")
        towns = [
            r[0]
            for r in conn.execute(
                "SELECT code FROM jurisdiction WHERE level = 'township' ORDER BY code"
            )
        ]
        list_id, county = conn.execute(
            "SELECT id, county_code FROM matter_list WHERE status = 'published'"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        matters = conn.execute(
            "SELECT code, platform_code, lead_department_id FROM matter WHERE list_id = %s"
            " AND lead_department_id IS NOT NULL ORDER BY code",
            (list_id,),
        ).fetchall()
        departments = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM department WHERE kind <> 'township_platform' ORDER BY id"
            )
        ]
        platform = conn.execute(
            "SELECT id FROM department WHERE kind = 'township_platform' ORDER BY id LIMIT 1"
        ).fetchone()
        say(f"bulk: {events:,} events, {len(towns)} townships, {len(matters)} matters")
        conn.execute(
            EVENTS_SQL,
            {
                "codes": [m[0] for m in matters],
                "platforms": [m[1] for m in matters],
                "leads": [m[2] for m in matters],
                "towns": towns,
                "county": county,
                "list_id": list_id,
                "n": events,
                "start": start,
                "span": end - start,
                "matters": len(matters),
                "townships": len(towns),
            },
        )
        say("bulk: events written; parts next")
        lead = (
            "(SELECT lead_department_id FROM matter"
            " WHERE list_id = e.matter_list_id AND code = e.matter_code)"
        )
        roles = (
            ("lead", 100, 0, lead),
            ("co", 30, 37, f"({departments[0]}::bigint + (e.id %% {len(departments)}))"),
            ("territorial", 40, 71, str(platform[0] if platform else departments[-1])),
        )
        for role, share, salt, department in roles:
            sql = PARTS_SQL.replace("%(department)s", department)
            conn.execute(sql, {"role": role, "share": share, "salt": salt})
            say(f"bulk: {role} parts written")
        conn.execute(
            "INSERT INTO supervision_notice (event_id, assignment_id, level, status, automatic,"
            " rule, note, issued_at) SELECT event_id, id, CASE WHEN id % 3 = 0 THEN 'red'"
            " WHEN id % 3 = 1 THEN 'yellow' ELSE 'normal' END, 'closed', true, 'handle+1',"
            " '超期督办', created_at + interval '6 days' FROM assignment WHERE id % 10 = 0"
        )
        conn.execute(
            "INSERT INTO extension_request (event_id, assignment_id, working_days, reason, status,"
            " requested_at) SELECT event_id, id, 3, '等待检测结果', CASE WHEN id % 2 = 0"
            " THEN 'approved' ELSE 'refused' END, created_at + interval '2 days'"
            " FROM assignment WHERE id % 20 = 1"
        )
        conn.execute("ANALYZE")
        say("bulk: done, analysed")
