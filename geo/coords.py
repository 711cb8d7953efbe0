"""Coordinate validation and the Chinese coordinate systems WGS84, GCJ-02 and BD-09.

Phones in China mostly report GCJ-02 (the "Mars" offset used by Amap, DingTalk, WeChat and
Tencent maps) or BD-09 (Baidu, which adds its own offset on top of GCJ-02). Jurisdiction
boundaries are kept in WGS84, so every coordinate is brought to WGS84 before it is located.

The GCJ-02 offset is the published algorithm on the Krasovsky ellipsoid. It is applied only
inside China's rough bounding box: outside it all three systems are treated as WGS84, as the
Chinese map providers do abroad. GCJ-02 and BD-09 have no closed-form inverse: the inverses
here iterate the forward transform until the residual is below 1e-12 degrees (about 0.1 µm),
instead of the common one-step approximation that is off by up to a few metres.

Every scalar function has a numpy counterpart (``*_array``) for bulk work; both share the
same arithmetic and agree within 1e-11 degrees (a micrometre), not to the last bit: numpy's
trigonometry may round differently from ``math``'s, and the array inverse iterates until
every point has converged.

Round trips (``to_wgs84(*from_wgs84(p))``, and the other way) return p within 1e-9 degrees
everywhere in the box except within about 0.02 degrees of its edge, where an offset point can
cross it; the box's edges lie outside China's territory.
"""

import math
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
_N = TypeVar("_N", float, FloatArray)

# Krasovsky 1940 ellipsoid, as used by the published GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0
# China's rough box, in which GCJ-02 and BD-09 differ from WGS84.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)
# Iterating the inverse stops at this residual (degrees) or after this many steps; the
# offsets vary slowly, so 3-4 steps reach it.
_INVERSE_TOLERANCE = 1e-12
_INVERSE_MAX_STEPS = 30


class CoordinateError(ValueError):
    """A coordinate or coordinate system that cannot be used, naming the faulty field."""

    code = "invalid_coordinate"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Crs(StrEnum):
    """A coordinate reference system a report can arrive in."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


_CRS_ALIASES: dict[str, Crs] = {
    "wgs84": Crs.WGS84,
    "epsg:4326": Crs.WGS84,
    "gps": Crs.WGS84,
    "gcj02": Crs.GCJ02,
    "mars": Crs.GCJ02,
    "bd09": Crs.BD09,
    "bd09ll": Crs.BD09,
}


def parse_crs(value: str) -> Crs:
    """Return the Crs named by ``value``, ignoring case, spaces, '-' and '_'.

    Examples
    --------
    >>> parse_crs("GCJ-02")
    <Crs.GCJ02: 'gcj02'>
    """
    key = str(value).strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    try:
        return _CRS_ALIASES[key]
    except KeyError:
        accepted = "".join(f"「{c.value}」" for c in Crs)
        raise CoordinateError("crs", f"不支持坐标系「{value}」，应为{accepted}之一") from None


_WORDS = {"lon": "经度", "lat": "纬度"}


def _as_float(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise CoordinateError(name, f"{_WORDS[name]}应为数字，不能是是非值")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise CoordinateError(name, f"{_WORDS[name]}应为数字，不能是「{value}」") from None


def validate_lonlat(lon: float, lat: float) -> None:
    """Raise CoordinateError unless (lon, lat) is a finite, in-range, plausibly ordered pair.

    A pair with lon in 15..55 and lat in 70..90 is refused as swapped: Chinese coordinates
    entered as (lat, lon) land there, and no jurisdiction of ours does.
    """
    lon = _as_float("lon", lon)
    lat = _as_float("lat", lat)
    for name, value in (("lon", lon), ("lat", lat)):
        if math.isnan(value):
            raise CoordinateError(name, f"{_WORDS[name]}不是有效的数字")
        if math.isinf(value):
            raise CoordinateError(name, f"{_WORDS[name]} {value} 为无穷大")
    if not -180.0 <= lon <= 180.0:
        raise CoordinateError("lon", f"经度 {lon} 超出 [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        swapped = -90.0 <= lon <= 90.0 and abs(lat) <= 180.0
        hint = "；经度和纬度似乎填反了" if swapped else ""
        raise CoordinateError("lat", f"纬度 {lat} 超出 [-90, 90]{hint}")
    if 15.0 <= lon <= 55.0 and 70.0 <= lat <= 90.0:
        raise CoordinateError(
            "lat",
            f"经度 {lon}、纬度 {lat} 似乎填反了（中国境内经度约 73–135，纬度约 18–54）",
        )


def valid_lonlat_array(lons: npt.ArrayLike, lats: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Return a mask of the pairs that validate_lonlat would accept, without raising."""
    x = np.asarray(lons, dtype=np.float64)
    y = np.asarray(lats, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ok = (x >= -180.0) & (x <= 180.0) & (y >= -90.0) & (y <= 90.0)
        swapped = (x >= 15.0) & (x <= 55.0) & (y >= 70.0)
    return np.asarray(ok & ~swapped)


def _in_china(lon: _N, lat: _N) -> Any:
    return (
        (lon >= _CHINA_LON[0])
        & (lon <= _CHINA_LON[1])
        & (lat >= _CHINA_LAT[0])
        & (lat <= _CHINA_LAT[1])
    )


def _gcj_offset(
    lon: _N, lat: _N, sin: Callable[..., Any], cos: Callable[..., Any], sqrt: Callable[..., Any]
) -> tuple[_N, _N]:
    # The published GCJ-02 polynomial-plus-sines, in degrees, on the Krasovsky ellipsoid;
    # sin/cos/sqrt come from math for scalars and numpy for arrays.
    x = lon - 105.0
    y = lat - 35.0
    pi = math.pi
    waves = (20.0 * sin(6.0 * x * pi) + 20.0 * sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt(abs(x)) + waves
    dlat += (20.0 * sin(y * pi) + 40.0 * sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * sin(y / 12.0 * pi) + 320.0 * sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt(abs(x)) + waves
    dlon += (20.0 * sin(x * pi) + 40.0 * sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * sin(x / 12.0 * pi) + 300.0 * sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = sin(radlat)
    magic = 1.0 - _EE * magic * magic
    sqrtmagic = sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * cos(radlat) * pi)
    return dlon, dlat


def _bd_forward(
    lon: _N,
    lat: _N,
    sin: Callable[..., Any],
    cos: Callable[..., Any],
    sqrt: Callable[..., Any],
    atan2: Callable[..., Any],
) -> tuple[_N, _N]:
    z = sqrt(lon * lon + lat * lat) + 0.00002 * sin(lat * _X_PI)
    theta = atan2(lat, lon) + 0.000003 * cos(lon * _X_PI)
    return z * cos(theta) + 0.0065, z * sin(theta) + 0.006


def _wgs_to_gcj(lon: float, lat: float) -> tuple[float, float]:
    dlon, dlat = _gcj_offset(lon, lat, math.sin, math.cos, math.sqrt)
    return lon + dlon, lat + dlat


def _invert(
    forward: Callable[[float, float], tuple[float, float]],
    lon: float,
    lat: float,
    start: tuple[float, float],
) -> tuple[float, float]:
    """Solve forward(x, y) == (lon, lat) by fixed-point steps from start."""
    x, y = start
    for _ in range(_INVERSE_MAX_STEPS):
        flon, flat = forward(x, y)
        elon, elat = flon - lon, flat - lat
        x -= elon
        y -= elat
        if abs(elon) < _INVERSE_TOLERANCE and abs(elat) < _INVERSE_TOLERANCE:
            break
    return x, y


def _gcj_to_wgs(lon: float, lat: float) -> tuple[float, float]:
    return _invert(_wgs_to_gcj, lon, lat, (lon, lat))


def _gcj_to_bd(lon: float, lat: float) -> tuple[float, float]:
    return _bd_forward(lon, lat, math.sin, math.cos, math.sqrt, math.atan2)


def _bd_to_gcj(lon: float, lat: float) -> tuple[float, float]:
    return _invert(_gcj_to_bd, lon, lat, (lon - 0.0065, lat - 0.006))


def to_wgs84(lon: float, lat: float, crs: Crs) -> tuple[float, float]:
    """Convert one (lon, lat) from ``crs`` to WGS84; identity outside China's box.

    Examples
    --------
    >>> lon, lat = to_wgs84(116.41024449916938, 39.91640428150164, Crs.GCJ02)
    >>> round(lon, 9), round(lat, 9)
    (116.404, 39.915)
    """
    if crs == Crs.WGS84 or not _in_china(lon, lat):
        return float(lon), float(lat)
    if crs == Crs.BD09:
        lon, lat = _bd_to_gcj(lon, lat)
    return _gcj_to_wgs(lon, lat)


def from_wgs84(lon: float, lat: float, crs: Crs) -> tuple[float, float]:
    """Convert one WGS84 (lon, lat) to ``crs``; identity outside China's box."""
    if crs == Crs.WGS84 or not _in_china(lon, lat):
        return float(lon), float(lat)
    glon, glat = _wgs_to_gcj(lon, lat)
    return _gcj_to_bd(glon, glat) if crs == Crs.BD09 else (glon, glat)


def _wgs_to_gcj_array(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj_offset(lon, lat, np.sin, np.cos, np.sqrt)
    return lon + dlon, lat + dlat


def _gcj_to_bd_array(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _bd_forward(lon, lat, np.sin, np.cos, np.sqrt, np.arctan2)


def _iterate_inverse(
    forward: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    lon: FloatArray,
    lat: FloatArray,
    start: tuple[FloatArray, FloatArray],
) -> tuple[FloatArray, FloatArray]:
    xlon, xlat = start[0].copy(), start[1].copy()
    for _ in range(_INVERSE_MAX_STEPS):
        flon, flat = forward(xlon, xlat)
        elon, elat = flon - lon, flat - lat
        xlon -= elon
        xlat -= elat
        if (
            not (np.abs(elon) >= _INVERSE_TOLERANCE).any()
            and not (np.abs(elat) >= _INVERSE_TOLERANCE).any()
        ):
            break
    return xlon, xlat


def to_wgs84_array(
    lons: npt.ArrayLike, lats: npt.ArrayLike, crs: Crs
) -> tuple[FloatArray, FloatArray]:
    """Convert arrays of (lon, lat) from ``crs`` to WGS84, vectorised.

    NaN and out-of-range values pass through unchanged; validate separately.
    """
    x = np.array(lons, dtype=np.float64)
    y = np.array(lats, dtype=np.float64)
    if crs == Crs.WGS84:
        return x, y
    with np.errstate(invalid="ignore"):
        inside = np.asarray(_in_china(x, y))
    gx, gy = x[inside], y[inside]
    if crs == Crs.BD09:
        gx, gy = _iterate_inverse(_gcj_to_bd_array, gx, gy, (gx - 0.0065, gy - 0.006))
    wx, wy = _iterate_inverse(_wgs_to_gcj_array, gx, gy, (gx, gy))
    x[inside] = wx
    y[inside] = wy
    return x, y


def from_wgs84_array(
    lons: npt.ArrayLike, lats: npt.ArrayLike, crs: Crs
) -> tuple[FloatArray, FloatArray]:
    """Convert arrays of WGS84 (lon, lat) to ``crs``, vectorised."""
    x = np.array(lons, dtype=np.float64)
    y = np.array(lats, dtype=np.float64)
    if crs == Crs.WGS84:
        return x, y
    with np.errstate(invalid="ignore"):
        inside = np.asarray(_in_china(x, y))
    gx, gy = _wgs_to_gcj_array(x[inside], y[inside])
    if crs == Crs.BD09:
        gx, gy = _gcj_to_bd_array(gx, gy)
    x[inside] = gx
    y[inside] = gy
    return x, y
