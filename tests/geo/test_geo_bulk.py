"""locate_stream: line-aligned CSV output, bad lines, headers, CRS and quoting."""

import io
from collections.abc import Iterable
from typing import TextIO

import numpy as np
import pytest
from shapely import box

from geo import Crs, Jurisdiction, JurisdictionIndex, Level, from_wgs84
from geo.bulk import HEADER, BulkStats, locate_stream


def run(
    index: JurisdictionIndex,
    lines: Iterable[str] | TextIO,
    crs: Crs = Crs.WGS84,
    chunk: int = 65536,
) -> tuple[list[str], BulkStats]:
    out = io.StringIO()
    stats = locate_stream(index, lines, out, crs=crs, chunk=chunk)
    return out.getvalue().splitlines(), stats


def test_output_is_line_aligned_with_bad_lines(index: JurisdictionIndex) -> None:
    lines = [
        "120.025,30.025",
        "garbage",
        "",
        "120.3, 30.05",
        "1,2,3",
        "nan,30",
        "200,30",
        "121.0,31.0",
        "120.05,30.02",
    ]
    out, stats = run(index, lines, chunk=4)
    assert out[0] == HEADER
    assert out[1:] == [
        "120.025,30.025,3301,330101,,33010101,0,",
        ",,,,,,,malformed",
        ",,,,,,,malformed",
        "120.3,30.05,3302,330201,,,0,",
        ",,,,,,,malformed",
        "nan,30,,,,,,invalid",
        "200,30,,,,,,invalid",
        "121.0,31.0,,,,,0,",
        "120.05,30.02,3301,330101,,33010101,1,",
    ]
    assert stats.lines == 9
    assert stats.located == 3
    assert stats.outside == 1
    assert stats.malformed == 3
    assert stats.invalid == 2
    assert stats.near_boundary == 1
    assert stats.header is False


@pytest.mark.parametrize("header", ["lon,lat", "LNG, LAT", "longitude,latitude"])
def test_input_header_is_replaced_by_the_output_header(
    index: JurisdictionIndex, header: str
) -> None:
    out, stats = run(index, [header + "\n", "120.025,30.025\n"])
    assert out == [HEADER, "120.025,30.025,3301,330101,,33010101,0,"]
    assert stats.header is True
    assert stats.lines == 1


def test_reads_a_text_stream_and_handles_crlf(index: JurisdictionIndex) -> None:
    out, stats = run(index, io.StringIO("120.025,30.025\r\n121,31\r\n"))
    assert out[1:] == ["120.025,30.025,3301,330101,,33010101,0,", "121,31,,,,,0,"]
    assert stats.lines == 2


def test_empty_input_writes_only_the_header(index: JurisdictionIndex) -> None:
    out, stats = run(index, [])
    assert out == [HEADER]
    assert stats.lines == 0


def test_gcj02_input_is_converted_but_echoed_as_given(index: JurisdictionIndex) -> None:
    # A WGS84 point 30 m west of a grid border lands on the other side in raw GCJ-02.
    glon, glat = from_wgs84(120.0497, 30.02, Crs.GCJ02)
    line = f"{glon!r},{glat!r}"
    wgs_out, _ = run(index, [line])
    gcj_out, _ = run(index, [line], crs=Crs.GCJ02)
    assert gcj_out[1].startswith(line + ",3301,330101,,33010101,")
    assert ",33010101," not in wgs_out[1]


def test_codes_that_need_quoting_are_quoted() -> None:
    odd = Jurisdiction('a,"b"', "怪", Level.GRID, None, box(120.0, 30.0, 120.1, 30.1))
    out, _ = run(JurisdictionIndex.build([odd]), ["120.05,30.05"])
    assert out[1] == '120.05,30.05,,,,"a,""b""",0,'


def test_bulk_matches_single_lookups(tiling_index: JurisdictionIndex) -> None:
    rng = np.random.default_rng(3)
    points = list(
        zip(
            rng.uniform(118.49, 119.01, 2000).tolist(),
            rng.uniform(31.49, 32.01, 2000).tolist(),
            strict=True,
        )
    )
    out, stats = run(tiling_index, [f"{x!r},{y!r}" for x, y in points], chunk=500)
    assert len(out) == len(points) + 1
    for (lon, lat), row in zip(points, out[1:], strict=True):
        fields = row.split(",")
        loc = tiling_index.locate(lon, lat)
        assert fields[5] == (loc.leaf.code if loc.leaf else "")
        assert fields[6] == ("1" if loc.near_boundary else "0")
    assert stats.located + stats.outside == len(points)


def test_chunk_must_be_positive(index: JurisdictionIndex) -> None:
    with pytest.raises(ValueError, match="chunk"):
        run(index, ["1,2"], chunk=0)
