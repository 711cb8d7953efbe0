"""Locate a stream of "lon,lat" lines in bulk, writing one CSV line per input line.

Output columns::

    lon,lat,county_code,township_code,village_code,grid_code,near_boundary,error

The output is line-aligned with the input: data line k of the input is data line k of the
output, after one header line. If the input starts with its own header (``lon,lat``,
``lng,lat``, ``longitude,latitude`` or ``x,y``), that line is consumed and the output
header takes its place, so line n of the output answers line n of the input.

``lon`` and ``lat`` echo the input text (stripped), so rows can be joined back exactly even
when ``crs`` is not WGS84. Codes are empty where the point has none at that level.
``near_boundary`` is ``1`` or ``0``. ``error`` is empty for a usable line, ``malformed`` for
a line that is not two comma-separated numbers (its other fields are empty) and
``invalid`` for numbers that are not a valid coordinate (NaN, infinite, out of range or
swapped; its codes are empty).

Performance: lines are parsed a chunk at a time with C-level string operations and numpy,
and located with ``JurisdictionIndex.locate_many``; no Python code runs per point unless a
chunk contains a malformed line, in which case that chunk alone is parsed line by line.
"""

import itertools
import operator
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TextIO

import numpy as np
import numpy.typing as npt

from geo.coords import Crs
from geo.index import BulkLocation, JurisdictionIndex
from geo.levels import Level

HEADER = "lon,lat,county_code,township_code,village_code,grid_code,near_boundary,error"
_INPUT_HEADERS = frozenset({"lon,lat", "lng,lat", "longitude,latitude", "x,y"})
_CODE_LEVELS = (Level.COUNTY, Level.TOWNSHIP, Level.VILLAGE, Level.GRID)
_count_commas = operator.methodcaller("count", ",")


@dataclass(frozen=True, slots=True)
class BulkStats:
    """Counts from one ``locate_stream`` run; ``lines`` excludes an input header."""

    lines: int = 0
    located: int = 0
    outside: int = 0
    near_boundary: int = 0
    malformed: int = 0
    invalid: int = 0
    header: bool = False


def _csv_field(code: str) -> str:
    if any(ch in code for ch in ',"\r\n'):
        return '"' + code.replace('"', '""') + '"'
    return code


_Parsed = tuple[
    list[str], list[str], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]
]


def _parse(lines: list[str]) -> _Parsed:
    """Return the lon and lat texts, their values and a mask of well-formed lines."""
    stripped = list(map(str.strip, lines))
    n = len(stripped)
    if np.all(np.fromiter(map(_count_commas, stripped), dtype=np.int64, count=n) == 1):
        tokens = list(map(str.strip, ",".join(stripped).split(",")))
        try:
            values = np.array(tokens, dtype=np.float64)
        except ValueError:
            pass
        else:
            return tokens[0::2], tokens[1::2], values[0::2], values[1::2], np.ones(n, bool)
    # A chunk with a malformed line: parse it line by line.
    lon_text, lat_text = [""] * n, [""] * n
    lons, lats = np.full(n, np.nan), np.full(n, np.nan)
    ok = np.zeros(n, dtype=bool)
    for i, line in enumerate(stripped):
        a, sep, b = line.partition(",")
        try:
            x, y = float(a), float(b)
        except ValueError:
            continue
        if sep:
            lon_text[i], lat_text[i] = a.strip(), b.strip()
            lons[i], lats[i] = x, y
            ok[i] = True
    return lon_text, lat_text, lons, lats, ok


def _chunks(lines: Iterable[str] | TextIO, size: int) -> Iterator[list[str]]:
    it = iter(lines)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def locate_stream(
    index: JurisdictionIndex,
    lines: Iterable[str] | TextIO,
    out: TextIO,
    crs: Crs = Crs.WGS84,
    chunk: int = 65536,
) -> BulkStats:
    """Locate every "lon,lat" line of ``lines`` and write the CSV described above to ``out``.

    Examples
    --------
    >>> import io
    >>> from shapely import box
    >>> from geo import Jurisdiction, JurisdictionIndex, Level
    >>> j = Jurisdiction("320102", "玄武区", Level.COUNTY, None, box(118.0, 32.0, 118.1, 32.1))
    >>> out = io.StringIO()
    >>> stats = locate_stream(JurisdictionIndex.build([j]), ["118.05,32.05", "oops", "1,2"], out)
    >>> print(out.getvalue(), end="")
    lon,lat,county_code,township_code,village_code,grid_code,near_boundary,error
    118.05,32.05,320102,,,,0,
    ,,,,,,,malformed
    1,2,,,,,0,
    >>> stats.located, stats.malformed, stats.outside
    (1, 1, 1)
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, not {chunk}")
    quote = any(_csv_field(j.code) != j.code for j in index)
    out.write(HEADER + "\n")
    counts = dict.fromkeys(
        ("lines", "located", "outside", "near_boundary", "malformed", "invalid"), 0
    )
    header = False
    first = True

    def write(block_len: int, parsed: _Parsed, result: BulkLocation) -> None:
        lon_text, lat_text, _, _, ok = parsed
        valid = result.valid & ok
        located = result.located() & valid
        near = result.near_boundary & valid
        columns: list[list[str]] = [lon_text, lat_text]
        for level in _CODE_LEVELS:
            codes = result.codes[level].tolist()
            columns.append([_csv_field(c) for c in codes] if quote else codes)
        columns.append(np.where(near, "1", np.where(valid, "0", "")).tolist())
        columns.append(np.where(ok, np.where(valid, "", "invalid"), "malformed").tolist())
        out.write("\n".join(map(",".join, zip(*columns, strict=True))))
        out.write("\n")
        n_ok = int(ok.sum())
        n_valid = int(valid.sum())
        n_located = int(located.sum())
        counts["lines"] += block_len
        counts["located"] += n_located
        counts["outside"] += n_valid - n_located
        counts["near_boundary"] += int(near.sum())
        counts["malformed"] += block_len - n_ok
        counts["invalid"] += n_ok - n_valid

    # A worker thread locates chunk k (numpy and GEOS release the GIL) while this thread
    # parses chunk k + 1 and writes chunk k - 1: both cores stay busy.
    pending: tuple[int, _Parsed, Future[BulkLocation]] | None = None
    with ThreadPoolExecutor(max_workers=1) as pool:
        for block in _chunks(lines, chunk):
            if first:
                first = False
                if block[0].strip().lower().replace(" ", "") in _INPUT_HEADERS:
                    header = True
                    block = block[1:]
                    if not block:
                        continue
            parsed = _parse(block)
            future = pool.submit(index.locate_many, parsed[2], parsed[3], crs)
            if pending is not None:
                write(pending[0], pending[1], pending[2].result())
            pending = (len(block), parsed, future)
        if pending is not None:
            write(pending[0], pending[1], pending[2].result())
    return BulkStats(header=header, **counts)
