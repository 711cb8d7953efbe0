"""The `sipingtai` command: database, jurisdictions, departments, matter lists, routing, demo."""

from __future__ import annotations

import contextlib
import getpass
import ipaddress
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from sqlmodel import Session

from dispatch.core.clock import beijing_text
from dispatch.core.db import make_engine, migrate, session_scope
from dispatch.core.errors import DomainError
from dispatch.core.settings import Settings, get_settings
from dispatch.users.models import UserRole
from geo.coords import CoordinateError
from geo.geojson import GeoJSONError
from geo.levels import LEVEL_LABELS, Level
from service.progress import StderrProgress

app = typer.Typer(
    help="四平台 Sipingtai: 网格事件按辖区和责任清单分拨。Event dispatch, grassroots governance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="数据库 Database schema.", no_args_is_help=True)
geo_app = typer.Typer(help="辖区 Jurisdictions: import boundaries, locate.", no_args_is_help=True)
dept_app = typer.Typer(help="部门 Departments and stationed units.", no_args_is_help=True)
list_app = typer.Typer(help="责任清单 Versioned responsibility lists.", no_args_is_help=True)
calendar_app = typer.Typer(help="工作日历 Holidays and make-up workdays.", no_args_is_help=True)
demo_app = typer.Typer(help="示例数据 The illustrative demo county.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(geo_app, name="geo")
app.add_typer(dept_app, name="dept")
app.add_typer(list_app, name="list")
app.add_typer(demo_app, name="demo")
app.add_typer(calendar_app, name="calendar")

T = TypeVar("T")
USER_ERRORS = (DomainError, CoordinateError, GeoJSONError)


def echo_err(message: str) -> None:
    """Print a message to stderr."""
    typer.echo(message, err=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn domain and input errors into a readable message and exit status 2."""
    try:
        yield
    except USER_ERRORS as exc:
        echo_err(f"错误 error: {exc}")
        raise typer.Exit(code=2) from None
    except OSError as exc:
        echo_err(f"错误 error: 无法读取文件 cannot read: {exc.filename or ''} ({exc.strerror})")
        raise typer.Exit(code=2) from None


def settings() -> Settings:
    """Return the process settings (read once)."""
    return get_settings()


def run_in_session(work: Callable[[Session], T]) -> T:
    """Migrate if needed, then run work in one transaction that commits only on success."""
    url = settings().effective_database_url
    migrate(url)
    engine = make_engine(url)
    try:
        with user_errors(), session_scope(engine) as session:
            return work(session)
    finally:
        engine.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the newest version."""
    url = settings().effective_database_url
    migrate(url)
    typer.echo(f"数据库已是最新 schema up to date: {_redacted(url)}")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@geo_app.command("import")
def geo_import(
    file: Annotated[Path, typer.Argument(help="GeoJSON FeatureCollection (Polygon/MultiPolygon).")],
    level: Annotated[Level, typer.Option(help="辖区层级 level of every feature in the file.")],
    name_field: Annotated[str, typer.Option(help="名称所在属性 property holding the name.")],
    code_field: Annotated[
        str | None, typer.Option(help="编码属性; omitted → stable codes derived from content.")
    ] = None,
    parent_field: Annotated[
        str | None, typer.Option(help="上级编码属性; omitted → parent found by containment.")
    ] = None,
    population_field: Annotated[str | None, typer.Option(help="人口属性 population.")] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="跳过无法使用的要素并导入其余 import the rest, skip refused.")
    ] = False,
) -> None:
    """Import a layer of jurisdictions from GeoJSON; re-importing the same file changes nothing."""
    from dispatch.reference.jurisdictions import import_layer
    from geo.geojson import FieldMapping

    mapping = FieldMapping(
        name=name_field, code=code_field, parent=parent_field, population=population_field
    )
    with user_errors():
        data = file.read_bytes()
    progress = StderrProgress(f"读取 {LEVEL_LABELS[level]}")
    report = run_in_session(
        lambda s: import_layer(
            s,
            data,
            level=level,
            mapping=mapping,
            source=file.name,
            skip_invalid=skip_invalid,
            progress=progress,
        )
    )
    _print_layer_report(report)


def _print_layer_report(report: Any) -> None:
    label = LEVEL_LABELS[report.level]
    typer.echo(
        f"已导入{label} {report.total} 个 imported: 新建 created {report.created}, "
        f"更新 updated {report.updated}, 未变 unchanged {report.unchanged}"
    )
    for problem in report.repaired:
        typer.echo(f"  已修复 repaired: {problem.message}")
    for problem in report.skipped:
        typer.echo(f"  已跳过 skipped: {problem.message}")
    for problem in report.orphans:
        typer.echo(f"  无上级 no parent: {problem.message}")
    for issue in report.coverage:
        kind = "重叠 overlap" if issue.kind == "overlap" else "缝隙 gap"
        lon, lat = issue.where
        typer.echo(
            f"  {kind}: {'、'.join(issue.codes)} 面积 {issue.area_m2:,.0f} m² "
            f"位置 near ({lon:.6f}, {lat:.6f})"
        )


@geo_app.command("locate")
def geo_locate(
    crs: Annotated[str, typer.Option(help="输入坐标系 wgs84 | gcj02 | bd09.")] = "wgs84",
) -> None:
    """Read `lon,lat` lines on stdin; write one CSV line each with the jurisdiction codes."""
    from dispatch.reference.jurisdictions import build_index
    from geo.bulk import locate_stream
    from geo.coords import parse_crs

    with user_errors():
        parsed_crs = parse_crs(crs)
    index = run_in_session(lambda s: build_index(s, near_distance_m=settings().near_boundary_m))
    if len(index) == 0:
        echo_err("错误 error: 尚未导入任何辖区 no jurisdictions imported (sipingtai geo import)")
        raise typer.Exit(code=2)
    stats = locate_stream(index, sys.stdin, sys.stdout, crs=parsed_crs)
    sys.stdout.flush()
    echo_err(str(stats))


@dept_app.command("import")
def dept_import(
    file: Annotated[Path, typer.Argument(help="部门名录 .xlsx / .csv.")],
) -> None:
    """Import the department directory; then make sure every township has its platforms."""
    from dispatch.reference.departments import ensure_township_platforms, import_departments

    def work(session: Session) -> tuple[Any, int]:
        return import_departments(session, file, source=file.name), ensure_township_platforms(
            session
        )

    report, platforms = run_in_session(work)
    typer.echo(
        f"已导入部门 {report.rows} 行 imported: 新建 created {report.created}, "
        f"更新 updated {report.updated}, 未变 unchanged {report.unchanged}; "
        f"覆盖关系 coverage {report.coverage_links}; 新建乡镇平台 platforms created {platforms}"
    )


@dept_app.command("webhook")
def dept_webhook(
    name: Annotated[str, typer.Argument(help="部门名称、简称或编号 name, short name or id.")],
    url: Annotated[
        str | None, typer.Option(help="接收任务的地址 http(s) URL that receives assignments.")
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(help="签名密钥 signing secret; omitted → keep the current one or make one."),
    ] = None,
    clear: Annotated[bool, typer.Option(help="停止推送 stop delivering to it.")] = False,
) -> None:
    """Deliver a department's new assignments to its own system by signed HTTP POST."""
    from dispatch.delivery.webhooks import clear_webhook, set_webhook

    if (url is None) == (not clear) or (clear and secret is not None):
        echo_err("错误 error: 请给出 --url（可加 --secret）或 --clear 之一 (--url or --clear)")
        raise typer.Exit(code=2)
    if url is None:
        cleared = run_in_session(lambda s: clear_webhook(s, name).name)
        typer.echo(f"已停止推送 webhook removed: {cleared}")
        return
    department, made = run_in_session(lambda s: set_webhook(s, name, url, secret))
    typer.echo(f"已设置推送 webhook set: {department.name} → {department.webhook_url}")
    if made:
        typer.echo(f"签名密钥 signing secret (请交给对方系统 give it to the receiver): {made}")


def _county_code(session: Session, county: str | None) -> str:
    """Return the county a list command means: --county, else the only county imported."""
    from dispatch.core.errors import InvalidInput
    from dispatch.reference.jurisdictions import choose_county

    code = choose_county(session, county, option="--county")
    if code is None:
        raise InvalidInput(
            "尚未导入县级辖区，请先导入 (sipingtai geo import --level county)", field="county"
        )
    return code


@list_app.command("import")
def list_import(
    file: Annotated[Path, typer.Argument(help="责任清单 .xlsx / .csv.")],
    county: Annotated[
        str | None, typer.Option(help="县级辖区编码; 只有一个县时可省略 default: the only county.")
    ] = None,
    effective: Annotated[
        str | None, typer.Option(help="生效日期 YYYY-MM-DD; default: today.")
    ] = None,
    source_doc: Annotated[str | None, typer.Option(help="文号 source document.")] = None,
    publish: Annotated[bool, typer.Option(help="导入后立即发布 publish at once.")] = False,
) -> None:
    """Import a new version of the responsibility list (a draft unless --publish)."""
    from dispatch.reference.lists.importer import import_matter_list

    effective_from = parse_day(effective) or now().date()
    report = run_in_session(
        lambda s: import_matter_list(
            s,
            file,
            county_code=_county_code(s, county),
            effective_from=effective_from,
            source_document=source_doc,
            publish=publish,
            source=file.name,
        )
    )
    verb = "新建" if report.created else "沿用"
    typer.echo(
        f"{verb}清单 v{report.version} ({report.status}, 生效 {report.effective_from}): "
        f"{report.matters} 项事项 matters"
    )
    for note in report.notes:
        typer.echo(f"  {note}")


@list_app.command("publish")
def list_publish(
    version: Annotated[int, typer.Argument(help="版本号 version number.")],
    county: Annotated[str | None, typer.Option(help="县级辖区编码.")] = None,
    effective: Annotated[str | None, typer.Option(help="生效日期 YYYY-MM-DD.")] = None,
) -> None:
    """Publish a draft version of the list; it takes over from its effective date."""
    from dispatch.core.errors import NotFound
    from dispatch.reference.lists.versions import list_versions, publish_list

    def work(session: Session) -> Any:
        code = _county_code(session, county)
        found = [v for v in list_versions(session, code) if v.version == version]
        if not found or found[0].id is None:
            raise NotFound(f"清单 v{version} 不存在 (county {code})", field="version")
        return publish_list(session, found[0].id, effective_from=parse_day(effective))

    published = run_in_session(work)
    typer.echo(f"已发布清单 v{published.version}, 生效 {published.effective_from}")


@list_app.command("show")
def list_show(
    county: Annotated[str | None, typer.Option(help="县级辖区编码.")] = None,
    at: Annotated[str | None, typer.Option(help="查看某日生效的版本 YYYY-MM-DD.")] = None,
) -> None:
    """List the versions of the responsibility list and say which is in force."""
    from dispatch.reference.lists.versions import list_in_force, list_versions

    def work(session: Session) -> tuple[list[Any], Any]:
        code = _county_code(session, county)
        return list_versions(session, code), list_in_force(session, code, parse_day(at) or now())

    versions, in_force = run_in_session(work)
    if not versions:
        typer.echo("尚无责任清单 no list imported yet")
    for v in versions:
        mark = " ← 生效中 in force" if in_force is not None and in_force.id == v.id else ""
        typer.echo(
            f"v{v.version}  {v.status:<10} 生效 {v.effective_from}  {v.source_document or ''}{mark}"
        )


@app.command("route")
def route(
    lon: Annotated[float, typer.Option(help="经度 longitude.")],
    lat: Annotated[float, typer.Option(help="纬度 latitude.")],
    crs: Annotated[str, typer.Option(help="wgs84 | gcj02 | bd09.")] = "wgs84",
    matter: Annotated[str | None, typer.Option(help="事项编码 matter code.")] = None,
    text: Annotated[str | None, typer.Option(help="事件描述 description to classify.")] = None,
    urgent: Annotated[bool, typer.Option(help="紧急 use the urgent time limits.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON.")] = False,
) -> None:
    """Show who must act on a report at a point: lead, cooperating, territorial, and why."""
    from dispatch.routing.router import Router

    if (matter is None) == (text is None):
        echo_err("错误 error: 请给出 --matter 或 --text 之一 (exactly one of --matter, --text)")
        raise typer.Exit(code=2)
    config = settings()

    def work(session: Session) -> Any:
        router = Router.load(
            session, near_distance_m=config.near_boundary_m, threshold=config.classify_threshold
        )
        return router.route(
            session,
            lon=lon,
            lat=lat,
            crs=crs,
            matter_code=matter,
            description=text,
            urgent=urgent,
        )

    result = run_in_session(work)
    if as_json:
        typer.echo(to_json(result.to_public().model_dump(mode="json")))
        return
    decision = result.decision
    status = "可派单 routed" if decision.routed else "需人工研判 needs triage"
    typer.echo(f"结论: {status}")
    for line in decision.reasons:
        typer.echo(f"  {line}")
    for line in decision.triage_reasons:
        typer.echo(f"  ✗ {line}")
    for s in decision.suggestions:
        typer.echo(f"  候选 {s.code} {s.name} ({s.score:.2f})")
    if not decision.routed:
        raise typer.Exit(code=1)


@demo_app.command("load")
def demo_load() -> None:
    """Load the illustrative demo county; running it again changes nothing."""
    from dispatch.demo.seed import load_demo

    report = run_in_session(lambda s: load_demo(s, progress=_progress))
    _print_demo_report(report)


@demo_app.command("history")
def demo_history(
    events: Annotated[int, typer.Option(min=1, help="事件数 how many reports to write.")] = 2000,
    months: Annotated[int, typer.Option(min=1, max=36, help="月数 how many months back.")] = 6,
    seed: Annotated[int, typer.Option(help="随机种子 the same seed writes the same past.")] = 1,
    allow_real_data: Annotated[
        bool,
        typer.Option(
            help="允许写入非示例数据库 write into a database that is not only the demo's."
        ),
    ] = False,
) -> None:
    """Write a realistic past into the demo county through the real loop (refused if one exists)."""
    from dispatch.demo.history import count_label, refuse_unless_demo, write_history
    from dispatch.demo.seed import load_demo

    url = settings().effective_database_url
    migrate(url)
    engine = make_engine(url)
    try:
        with user_errors():
            with session_scope(engine) as session:
                if not allow_real_data:
                    refuse_unless_demo(session)  # before the demo county goes in beside it
                _print_demo_report(load_demo(session, progress=_progress))
            report = write_history(
                engine,
                events=events,
                months=months,
                seed=seed,
                progress=StderrProgress("写入历史 writing history"),
                allow_real_data=allow_real_data,
            )
    finally:
        engine.dispose()
    typer.echo(
        f"历史已写入 history written: {report.events} 件事件, {report.assignments} 项任务, "
        f"{beijing_text(report.started)} 至 {beijing_text(report.ended)}"
    )
    for name, count in sorted(report.counts.items()):
        typer.echo(f"  {count_label(name)} {name}: {count}")
    if report.refused:
        refused = sum(report.refused.values())
        typer.echo(f"  规则拒绝的操作 refused by the rules: {refused}")
    typer.echo(f"用时 took {report.seconds:.1f} s ({report.events_per_second:.1f} 件/秒 events/s)")


def _progress(label: str) -> StderrProgress:
    return StderrProgress(f"读取 {label}")


def _print_demo_report(report: Any) -> None:
    for layer in report.layers:
        _print_layer_report(layer)
    typer.echo(
        f"部门 departments: 新建 {report.departments_created}; "
        f"乡镇平台 platforms: 新建 {report.platform_departments_created}; "
        f"清单 lists: 新建 {', '.join(f'v{v}' for v in report.list_versions_created) or '无 none'}"
    )


@calendar_app.command("import")
def calendar_import(
    file: Annotated[Path, typer.Argument(help="日历 JSON (see dispatch/calendars/cn-2026.json).")],
) -> None:
    """Import holidays and make-up workdays from a JSON file; importing again changes nothing."""
    from dispatch.reference.calendar import import_calendar

    changed = run_in_session(lambda s: import_calendar(s, file))
    typer.echo(f"日历已导入 imported: 新增或更改 {changed} 天 days changed")


@calendar_app.command("show")
def calendar_show(
    year: Annotated[int, typer.Option(help="年份 year.")] = 0,
) -> None:
    """List the dated exceptions of a year: holidays and make-up workdays."""
    from dispatch.reference.calendar import load_calendar

    calendar = run_in_session(load_calendar)
    shown = year or now().year
    days = sorted(d for d in calendar.exceptions if d.year == shown)
    if not days:
        typer.echo(f"{shown} 年没有节假日数据：按周一至周五工作计算 (no data: Mon-Fri)")
    for day in days:
        kind = "上班 workday" if calendar.exceptions[day] else "休息 holiday"
        typer.echo(f"{day.isoformat()}  {kind:<12} {calendar.name(day) or ''}")


@app.command("up")
def up(
    port: Annotated[int, typer.Option(help="HTTP 端口 port.")] = 8000,
    host: Annotated[str, typer.Option(help="监听地址 address to bind.")] = "127.0.0.1",
    data_dir: Annotated[
        Path | None, typer.Option(help="数据目录 data directory (SQLite file, Redis, uploads).")
    ] = None,
    demo: Annotated[bool, typer.Option(help="载入示例县 load the demo county.")] = True,
    allow_demo_on_network: Annotated[
        bool,
        typer.Option(help="允许示例模式监听非本机地址 serve demo mode beyond this machine."),
    ] = False,
    history: Annotated[
        bool,
        typer.Option(
            help="首次启动时写入示例历史（考核、编制评估） on a first start in demo mode, write "
            "a short demo past for the assessment and workload pages."
        ),
    ] = True,
) -> None:
    """Run everything in one command: database, Redis, API, a worker and the scheduler."""
    import uvicorn

    from service.app import create_app
    from service.processes import UpProcesses

    config = settings()
    if data_dir is not None:
        config = config.model_copy(update={"data_dir": data_dir})
    if config.demo:
        _guard_demo_mode(host, allowed=allow_demo_on_network)
    _require_secret_key(config)
    url = config.effective_database_url
    typer.echo(f"数据库 database: {_redacted(url)}")
    migrate(url)
    if demo:
        _load_demo_into(url)
        if config.demo:
            _print_demo_users(_ensure_demo_users_into(url))
            if history:
                _write_first_history(url)
    # uvicorn shuts down on SIGTERM and then raises the signal again; turning it into
    # KeyboardInterrupt lets the supervisor stop the worker, scheduler and Redis it started.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    # A child that keeps failing stops `up` the way SIGTERM does, and `up` then exits 1.
    processes = UpProcesses(
        config, log=echo_err, on_give_up=lambda _: os.kill(os.getpid(), signal.SIGTERM)
    )
    with contextlib.suppress(KeyboardInterrupt), processes:
        config = processes.settings
        typer.echo(f"Redis: {processes.redis_label}")
        typer.echo(f"网页 pages: http://{host}:{port}/  (登录后按角色进入 sign in as a demo user)")
        typer.echo(f"API: http://{host}:{port}/api  文档 docs: http://{host}:{port}/docs")
        typer.echo("按 Ctrl-C 停止 press Ctrl-C to stop")
        # No per-connection compression: the boards send one frame to many clients, and
        # compressing it once per client costs more CPU than the bytes it saves on a LAN.
        uvicorn.run(
            create_app(config),
            host=host,
            port=port,
            log_level="info",
            ws_per_message_deflate=False,
        )
    if processes.supervisor.gave_up is not None:
        echo_err(f"错误 error: 子进程反复退出 a child kept failing: {processes.supervisor.gave_up}")
        raise typer.Exit(code=1)


DEMO_BANNER = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!!  演示模式 DEMO MODE: 演示账号的密码是公开的，切勿用于真实数据
!!  The demo users' password is published in the README: never put real data here.
!!  For a real deployment: SIPINGTAI_DEMO=false and SIPINGTAI_SECRET_KEY=<32+ random chars>.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
"""


def is_loopback(host: str) -> bool:
    """Return whether binding to host serves this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _guard_demo_mode(host: str, *, allowed: bool) -> None:
    """Say loudly that this is demo mode; refuse it beyond loopback unless allowed."""
    echo_err(DEMO_BANNER)
    if not is_loopback(host) and not allowed:
        echo_err(
            f"错误 error: 示例模式不能监听 {host}：演示账号的密码是公开的，网络上的任何人都能登录。"
            f"\n  Demo mode refuses to bind {host}: anyone on the network could sign in as a "
            "demo user.\n  Use --host 127.0.0.1, or SIPINGTAI_DEMO=false with a "
            "SIPINGTAI_SECRET_KEY, or --allow-demo-on-network if you really mean it."
        )
        raise typer.Exit(code=2)


# The past `up` writes on its first start: enough for 考核 and 编制评估 to show every kind of
# row, short enough to wait for (150 events took 10.8–12.9 s on two cores, 12–14 events/s).
UP_HISTORY_EVENTS = 150
UP_HISTORY_MONTHS = 3


def _write_first_history(url: str) -> None:
    """On a database with no event yet, write a short demo past; later starts write nothing."""
    from dispatch.demo.history import has_events, not_demo_reasons, write_history

    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            if has_events(session):
                return  # not a first start: a history, or events of the service's own use
            reasons = not_demo_reasons(session)
        if reasons:
            echo_err(f"未写入示例历史 no demo history: 数据库不只是示例（{'；'.join(reasons)}）")
            return
        echo_err(
            f"首次启动，写入示例历史 first start, writing a demo history: {UP_HISTORY_EVENTS} "
            f"件事件，近 {UP_HISTORY_MONTHS} 个月 (跳过 skip it: --no-history)"
        )
        report = write_history(
            engine,
            events=UP_HISTORY_EVENTS,
            months=UP_HISTORY_MONTHS,
            seed=1,
            progress=StderrProgress("写入历史 writing history"),
        )
        echo_err(
            f"示例历史已写入 demo history written: {report.events} 件事件, "
            f"{report.assignments} 项任务, 用时 took {report.seconds:.1f} s; 考核 #/assessment、"
            "编制评估 #/workload 选「上月」或「本季度」 pick a period of the last 3 months"
        )
    except DomainError as exc:
        # A past to look at is a convenience: the service starts without one.
        echo_err(f"未写入示例历史 no demo history: {exc}")
    except KeyboardInterrupt:
        # The days written so far are committed; the next start sees events and writes no more.
        echo_err("已中断 interrupted: 示例历史只写入了一部分 the demo history is partial")
        raise typer.Exit(code=130) from None
    finally:
        engine.dispose()


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _load_demo_into(url: str) -> None:
    from dispatch.demo.seed import load_demo

    engine = make_engine(url)
    try:
        with user_errors(), session_scope(engine) as session:
            _print_demo_report(load_demo(session, progress=_progress))
    finally:
        engine.dispose()


@app.command("worker")
def worker(
    burst: Annotated[bool, typer.Option(help="队列清空后退出 exit when queues are empty.")] = False,
) -> None:
    """Run an RQ worker on the routing and delivery queues (REDIS_URL required)."""
    from dispatch.core.queues import QUEUES
    from dispatch.core.redis import connect
    from dispatch.jobs.context import worker_context
    from dispatch.jobs.worker import RECYCLE_STATUS, run_worker

    connection = connect(_require_redis_url())
    context = worker_context()  # build the index once; every job runs here, kept current
    bound = context.settings.worker_max_rss_mb or None
    if run_worker(connection, QUEUES, burst=burst, max_rss_mb=bound):
        raise typer.Exit(RECYCLE_STATUS)  # past its memory bound: a fresh process takes over


@app.command("scheduler")
def scheduler(
    interval: Annotated[float, typer.Option(help="清扫间隔秒 seconds between sweeps.")] = 2.0,
    once: Annotated[bool, typer.Option(help="只清扫一次 sweep once and exit.")] = False,
) -> None:
    """Re-offer events never routed and re-queue due deliveries (Redis was down, a worker died)."""
    import time

    import redis
    from sqlalchemy.exc import OperationalError

    from dispatch.core.redis import connect
    from dispatch.delivery.webhooks import retry_due_deliveries
    from dispatch.jobs.scheduler import (
        alert_deadlines,
        beat,
        lapse_extensions,
        store_report_days,
        supervise_by_rules,
        sweep,
    )

    engine = make_engine(settings().effective_database_url)
    connection = connect(_require_redis_url())
    while True:
        try:
            swept = sweep(engine, connection)
            retry_due_deliveries(engine, connection)
            alert_deadlines(engine, connection)
            lapse_extensions(engine, connection)
            supervise_by_rules(engine, connection)
            store_report_days(engine)
            beat()
            if once:
                typer.echo(f"清扫 swept: {swept}")
                return
        except redis.RedisError as exc:
            echo_err(f"Redis 不可用，稍后重试 unavailable, retrying: {exc}")
            if once:
                raise typer.Exit(code=1) from None
        except OperationalError as exc:
            echo_err(f"数据库不可用，稍后重试 database unavailable, retrying: {exc.orig}")
            if once:
                raise typer.Exit(code=1) from None
        time.sleep(interval)


@app.command("health")
def health(
    process: Annotated[
        str | None,
        typer.Option(help="worker | scheduler: 只检查本机的该进程 check this host's process only."),
    ] = None,
) -> None:
    """Say whether the service is ok (exit 0) or degraded (exit 1), as GET /api/health does."""
    import redis

    from dispatch.core.redis import connect
    from dispatch.jobs.health import REASON_LABELS, check_health, fresh_workers_here
    from dispatch.jobs.scheduler import SCHEDULER_STALE_S, beat_age

    config = settings()
    if process == "scheduler":
        age = beat_age()
        when = "never" if age is None else f"{age:.0f} s ago"
        _health_exit(
            age is not None and age < SCHEDULER_STALE_S, f"调度进程 scheduler: 上次清扫 {when}"
        )
    redis_url = config.redis_url
    connection = connect(redis_url) if redis_url else None
    if process == "worker":
        try:
            here = fresh_workers_here(connection) if connection is not None else 0
        except redis.RedisError as exc:
            _health_exit(False, f"Redis 不可用 unavailable: {exc}")
        _health_exit(here > 0, f"本机分拨进程 workers on this host with a fresh heartbeat: {here}")
    if process is not None:
        echo_err("错误 error: --process 只能是 worker 或 scheduler")
        raise typer.Exit(code=2)
    engine = make_engine(config.effective_database_url)
    try:
        report = check_health(engine, connection)
    finally:
        engine.dispose()
    reasons = "；".join(REASON_LABELS[r] for r in report.reasons)
    _health_exit(report.status == "ok", f"{report.status}{'：' + reasons if reasons else ''}")


def _health_exit(ok: bool, message: str) -> NoReturn:
    (typer.echo if ok else echo_err)(message)
    raise typer.Exit(code=0 if ok else 1)


def _require_redis_url() -> str:
    url = settings().redis_url
    if not url:
        echo_err("错误 error: 需要 REDIS_URL (sipingtai up starts an embedded Redis for you)")
        raise typer.Exit(code=2)
    return url


user_app = typer.Typer(help="用户 Users, roles and scopes.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="用户名 username: 3-100 letters, digits, . _ -")],
    role: Annotated[UserRole, typer.Option(help="角色 role.")],
    scope: Annotated[
        str | None,
        typer.Option(
            help="乡镇编码或名称 township (grid_worker, township_operator); "
            "部门名称或编号 department (department_staff)."
        ),
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="显示名称 display name.")] = None,
) -> None:
    """Add a user; the password is one line on stdin (asked twice, hidden, on a terminal)."""
    from dispatch.users.service import create_user, resolve_scope, scope_label

    password = _read_new_password()

    def work(session: Session) -> tuple[str, str | None]:
        township_code, department_id = resolve_scope(session, role, scope)
        user = create_user(
            session,
            username=name,
            password=password,
            role=role,
            township_code=township_code,
            department_id=department_id,
            display_name=display_name,
        )
        return user.username, scope_label(session, user)

    username, label = run_in_session(work)
    where = f", {label}" if label else ""
    typer.echo(f"已创建用户 created user {username} ({role.value}{where})")


def _read_new_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("密码 password: ")
        if getpass.getpass("再输入一次 again: ") != password:
            echo_err("错误 error: 两次输入的密码不一致 the passwords differ")
            raise typer.Exit(code=2)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        echo_err("错误 error: 密码为空 empty password; give it as one line on stdin")
        raise typer.Exit(code=2)
    return password


@user_app.command("list")
def user_list() -> None:
    """List the users with their role and scope."""
    from dispatch.users.service import list_users, scope_label

    def work(session: Session) -> list[tuple[str, str, str, bool, str]]:
        return [
            (
                u.username,
                u.role,
                scope_label(session, u) or "全县 county",
                u.active,
                u.display_name or "",
            )
            for u in list_users(session)
        ]

    rows = run_in_session(work)
    if not rows:
        typer.echo("尚无用户 no users yet (sipingtai user add)")
    for username, role, where, active, display in rows:
        state = "" if active else "  已停用 inactive"
        typer.echo(f"{username:<20} {role:<18} {where}  {display}{state}".rstrip())


def _user_id(session: Session, name: str) -> int:
    from dispatch.core.errors import NotFound
    from dispatch.users.service import get_user_by_username

    user = get_user_by_username(session, name)
    if user is None or user.id is None:
        raise NotFound(f"用户「{name}」不存在 no such user", field="username")
    return user.id


GenerateOption = Annotated[
    bool,
    typer.Option("--generate", help="由系统生成临时密码并显示一次 generate one, shown once."),
]


def _new_password(generate: bool) -> str | None:
    return None if generate else _read_new_password()


def _echo_password(username: str, what: str, shown: str | None) -> None:
    typer.echo(f"{what} {username}")
    if shown:
        typer.echo(f"临时密码（仅显示一次）temporary password, shown once: {shown}")


@user_app.command("deactivate")
def user_deactivate(name: Annotated[str, typer.Argument(help="用户名 username.")]) -> None:
    """Deactivate a user: they cannot sign in, and their tokens stop working at once."""
    from dispatch.users.admin import deactivate_user

    run_in_session(lambda s: deactivate_user(s, None, _user_id(s, name)).username)
    typer.echo(f"已停用 deactivated {name}")


@user_app.command("reactivate")
def user_reactivate(
    name: Annotated[str, typer.Argument(help="用户名 username.")], generate: GenerateOption = False
) -> None:
    """Reactivate a user with a new password (one line on stdin, or --generate)."""
    from dispatch.users.admin import NewPassword, reactivate_user

    body = NewPassword(password=_new_password(generate))
    shown = run_in_session(lambda s: reactivate_user(s, _user_id(s, name), body)[1])
    _echo_password(name, "已重新启用 reactivated", shown)


@user_app.command("password")
def user_password(
    name: Annotated[str, typer.Argument(help="用户名 username.")], generate: GenerateOption = False
) -> None:
    """Reset a user's password (one line on stdin, or --generate); their tokens stop working."""
    from dispatch.users.admin import NewPassword, reset_password

    body = NewPassword(password=_new_password(generate))
    shown = run_in_session(lambda s: reset_password(s, _user_id(s, name), body)[1])
    _echo_password(name, "已重置密码 password reset for", shown)


@user_app.command("unlock")
def user_unlock(
    name: Annotated[str | None, typer.Argument(help="用户名 username.")] = None,
    address: Annotated[
        str | None, typer.Option(help="客户端地址 client address locked out as a whole.")
    ] = None,
) -> None:
    """Lift the sign-in lockout of a user (or of a client address) after failed sign-ins."""
    from dispatch.users.throttle import unlock

    keys = run_in_session(lambda s: unlock(s, username=name, address=address))
    typer.echo(f"已解除锁定 unlocked: {', '.join(keys)}")


def _require_secret_key(config: Settings) -> None:
    """Refuse to start without a usable token signing key; in demo mode create one."""
    from dispatch.core.settings import SecretKeyError

    try:
        config.resolved_secret_key()
    except (SecretKeyError, OSError) as exc:
        echo_err(f"错误 error: {exc}")
        raise typer.Exit(code=2) from None


def _ensure_demo_users_into(url: str) -> list[tuple[str, str, str]]:
    """Create the demo users if absent; return those still on the demo password."""
    from dispatch.users.service import ensure_demo_users

    engine = make_engine(url)
    try:
        with user_errors(), session_scope(engine) as session:
            return ensure_demo_users(session)
    finally:
        engine.dispose()


def _print_demo_users(users: list[tuple[str, str, str]]) -> None:
    if not users:
        return
    typer.echo("示例用户 demo users (仅示例模式 demo mode only; 勿用于生产 not for production):")
    for username, role, password in users:
        typer.echo(f"  {username:<10} {role:<18} 密码 password: {password}")


def parse_day(value: str | None) -> date | None:
    """Parse YYYY-MM-DD for options, naming the option when it is wrong."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"「{value}」不是日期 YYYY-MM-DD") from None


def to_json(data: Any) -> str:
    """Render data as indented UTF-8 JSON."""
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


def now() -> datetime:
    """Return the current local time (the county's wall clock)."""
    return datetime.now().astimezone()


def main() -> None:
    """Run the command line."""
    app()


if __name__ == "__main__":
    main()
