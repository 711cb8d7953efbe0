"""The `sipingtai` command: database, jurisdictions, departments, matter lists, routing, demo."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlmodel import Session

from dispatch.db import make_engine, migrate, session_scope
from dispatch.errors import DomainError
from dispatch.settings import Settings, get_settings
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
demo_app = typer.Typer(help="示例数据 The illustrative demo county.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(geo_app, name="geo")
app.add_typer(dept_app, name="dept")
app.add_typer(list_app, name="list")
app.add_typer(demo_app, name="demo")

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
    from dispatch.jurisdictions import import_layer
    from geo.geojson import FieldMapping

    mapping = FieldMapping(
        name=name_field, code=code_field, parent=parent_field, population=population_field
    )
    with user_errors():
        data = file.read_bytes()
    progress = StderrProgress(f"读取 {LEVEL_LABELS[level]}")
    report = run_in_session(
        lambda s: import_layer(
            s, data, level=level, mapping=mapping, source=file.name,
            skip_invalid=skip_invalid, progress=progress,
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
    from dispatch.jurisdictions import build_index
    from geo.bulk import locate_stream
    from geo.coords import parse_crs

    with user_errors():
        parsed_crs = parse_crs(crs)
    index = run_in_session(
        lambda s: build_index(s, near_distance_m=settings().near_boundary_m)
    )
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
    from dispatch.departments import ensure_township_platforms, import_departments

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


def _county_code(session: Session, county: str | None) -> str:
    from dispatch.errors import InvalidInput
    from dispatch.jurisdictions import sole_county_code

    code = county or sole_county_code(session)
    if code is None:
        raise InvalidInput("请用 --county 指定县级辖区编码 (none or several counties imported)")
    return code


@list_app.command("import")
def list_import(
    file: Annotated[Path, typer.Argument(help="责任清单 .xlsx / .csv.")],
    county: Annotated[
        str | None, typer.Option(help="县级辖区编码; default: the sole county.")
    ] = None,
    effective: Annotated[
        str | None, typer.Option(help="生效日期 YYYY-MM-DD; default: today.")
    ] = None,
    source_doc: Annotated[str | None, typer.Option(help="文号 source document.")] = None,
    publish: Annotated[bool, typer.Option(help="导入后立即发布 publish at once.")] = False,
) -> None:
    """Import a new version of the responsibility list (a draft unless --publish)."""
    from dispatch.matter_lists import import_matter_list

    effective_from = parse_day(effective) or now().date()
    report = run_in_session(
        lambda s: import_matter_list(
            s, file, county_code=_county_code(s, county), effective_from=effective_from,
            source_document=source_doc, publish=publish, source=file.name,
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
    from dispatch.errors import NotFound
    from dispatch.matter_lists import list_versions, publish_list

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
    from dispatch.matter_lists import list_in_force, list_versions

    def work(session: Session) -> tuple[list[Any], Any]:
        code = _county_code(session, county)
        return list_versions(session, code), list_in_force(
            session, code, parse_day(at) or now()
        )

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
    from dispatch.router import Router

    if (matter is None) == (text is None):
        echo_err("错误 error: 请给出 --matter 或 --text 之一 (exactly one of --matter, --text)")
        raise typer.Exit(code=2)
    config = settings()

    def work(session: Session) -> Any:
        router = Router.load(
            session, near_distance_m=config.near_boundary_m, threshold=config.classify_threshold
        )
        return router.route(
            session, lon=lon, lat=lat, crs=crs, matter_code=matter, description=text,
            urgent=urgent,
        )

    result = run_in_session(work)
    if as_json:
        typer.echo(to_json(result.to_dict()))
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
    from dispatch.seed import load_demo

    report = run_in_session(lambda s: load_demo(s, progress=_progress))
    _print_demo_report(report)


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


@app.command("up")
def up(
    port: Annotated[int, typer.Option(help="HTTP 端口 port.")] = 8000,
    host: Annotated[str, typer.Option(help="监听地址 address to bind.")] = "127.0.0.1",
    data_dir: Annotated[
        Path | None, typer.Option(help="数据目录 data directory (SQLite file, uploads).")
    ] = None,
    demo: Annotated[bool, typer.Option(help="载入示例县 load the demo county.")] = True,
) -> None:
    """Migrate, load the demo county and serve the API until Ctrl-C."""
    import uvicorn

    from dispatch.seed import load_demo
    from service.app import create_app

    config = settings()
    if data_dir is not None:
        config = config.model_copy(update={"data_dir": data_dir})
    url = config.effective_database_url
    typer.echo(f"数据库 database: {_redacted(url)}")
    migrate(url)
    if demo:
        engine = make_engine(url)
        try:
            with user_errors(), session_scope(engine) as session:
                _print_demo_report(load_demo(session, progress=_progress))
        finally:
            engine.dispose()
    typer.echo(f"API: http://{host}:{port}/api  文档 docs: http://{host}:{port}/docs")
    typer.echo("按 Ctrl-C 停止 press Ctrl-C to stop")
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")


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
