"""Coordinate validation and WGS84 / GCJ-02 / BD-09 conversions."""

import math

import numpy as np
import pytest

from geo.coords import (
    CoordinateError,
    Crs,
    from_wgs84,
    from_wgs84_array,
    parse_crs,
    to_wgs84,
    to_wgs84_array,
    valid_lonlat_array,
    validate_lonlat,
)

M_PER_DEG = 6371008.8 * math.pi / 180.0


def metres(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    kx = np.cos(np.radians(lat1)) * M_PER_DEG
    return np.hypot((lon2 - lon1) * kx, (lat2 - lat1) * M_PER_DEG)


def china_grid() -> tuple[np.ndarray, np.ndarray]:
    """Return 10,000 WGS84 points spread over mainland China's box, plus a few cities."""
    lons, lats = np.meshgrid(np.linspace(73.7, 134.9, 100), np.linspace(18.2, 53.4, 100))
    cities = np.array([[116.397, 39.908], [121.47, 31.23], [118.78, 32.06], [113.26, 23.13]])
    return np.r_[lons.ravel(), cities[:, 0]], np.r_[lats.ravel(), cities[:, 1]]


# Published reference values (wandergis/coordtransform test/app.js) for (116.404, 39.915).
@pytest.mark.parametrize(
    ("crs", "expected"),
    [
        (Crs.GCJ02, (116.41024449916938, 39.91640428150164)),
        (Crs.BD09, None),
    ],
)
def test_forward_matches_the_published_algorithm(
    crs: Crs, expected: tuple[float, float] | None
) -> None:
    lon, lat = from_wgs84(116.404, 39.915, crs)
    if expected is not None:
        assert lon == pytest.approx(expected[0], abs=1e-12)
        assert lat == pytest.approx(expected[1], abs=1e-12)
    else:
        # BD-09 applies Baidu's published step to the GCJ-02 result: gcj02tobd09(116.404,
        # 39.915) is (116.41036949371029, 39.92133699351021) in the same reference.
        from geo.coords import _gcj_to_bd

        assert _gcj_to_bd(116.404, 39.915) == pytest.approx(
            (116.41036949371029, 39.92133699351021), abs=1e-12
        )
        assert (lon, lat) == pytest.approx(_gcj_to_bd(*from_wgs84(116.404, 39.915, Crs.GCJ02)))


def test_gcj02_offset_at_tiananmen_is_the_known_size() -> None:
    glon, glat = from_wgs84(116.397, 39.908, Crs.GCJ02)
    assert glon - 116.397 == pytest.approx(0.0062, abs=0.0003)
    assert glat - 39.908 == pytest.approx(0.0014, abs=0.0002)


def test_inverse_is_iterative_not_one_step() -> None:
    # The one-step approximation (wgs = 2 * gcj - forward(gcj)) is off by centimetres here;
    # the iterative inverse recovers the published input to well under a millimetre.
    lon, lat = to_wgs84(116.41024449916938, 39.91640428150164, Crs.GCJ02)
    assert metres(np.array(116.404), np.array(39.915), np.array(lon), np.array(lat)) < 1e-4
    one_step = (116.39775550083061, 39.91359571849836)  # published gcj02towgs84(116.404, 39.915)
    truth = to_wgs84(116.404, 39.915, Crs.GCJ02)
    assert metres(np.array(truth[0]), np.array(truth[1]), *map(np.array, one_step)) > 0.01


@pytest.mark.parametrize("crs", [Crs.GCJ02, Crs.BD09])
def test_round_trips_at_many_points_stay_under_a_centimetre(crs: Crs) -> None:
    lons, lats = china_grid()
    there = from_wgs84_array(lons, lats, crs)
    back = to_wgs84_array(*there, crs)
    error = metres(lons, lats, *back)
    assert error.max() < 0.01
    # Every point inside the box really moved (the offset is tens to hundreds of metres).
    assert metres(lons, lats, *there).min() > 1.0


@pytest.mark.parametrize("crs", [Crs.GCJ02, Crs.BD09])
def test_scalar_and_array_versions_agree(crs: Crs) -> None:
    lons, lats = china_grid()
    for lon, lat in list(zip(lons.tolist(), lats.tolist(), strict=True))[::97]:
        assert from_wgs84(lon, lat, crs) == pytest.approx(
            tuple(a.item() for a in from_wgs84_array([lon], [lat], crs)), abs=1e-12
        )
        gx, gy = from_wgs84(lon, lat, crs)
        assert to_wgs84(gx, gy, crs) == pytest.approx(
            tuple(a.item() for a in to_wgs84_array([gx], [gy], crs)), abs=1e-11
        )
        assert metres(np.array(lon), np.array(lat), *map(np.array, to_wgs84(gx, gy, crs))) < 0.01


@pytest.mark.parametrize("crs", list(Crs))
@pytest.mark.parametrize(("lon", "lat"), [(2.35, 48.85), (-74.0, 40.7), (151.2, -33.9)])
def test_outside_china_every_system_is_wgs84(crs: Crs, lon: float, lat: float) -> None:
    assert from_wgs84(lon, lat, crs) == (lon, lat)
    assert to_wgs84(lon, lat, crs) == (lon, lat)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wgs84", Crs.WGS84),
        ("WGS-84", Crs.WGS84),
        ("EPSG:4326", Crs.WGS84),
        ("gcj02", Crs.GCJ02),
        ("GCJ-02", Crs.GCJ02),
        (" Gcj_02 ", Crs.GCJ02),
        ("BD09", Crs.BD09),
        ("bd09ll", Crs.BD09),
    ],
)
def test_parse_crs(text: str, expected: Crs) -> None:
    assert parse_crs(text) is expected


def test_parse_crs_names_accepted_values() -> None:
    with pytest.raises(CoordinateError) as caught:
        parse_crs("cgcs2000")
    assert caught.value.field == "crs"
    assert "「wgs84」「gcj02」「bd09」" in str(caught.value)


@pytest.mark.parametrize(
    ("lon", "lat", "field", "message"),
    [
        (math.nan, 30.0, "lon", "经度不是有效的数字"),
        (120.0, math.inf, "lat", "纬度 inf 为无穷大"),
        (180.5, 30.0, "lon", "经度 180.5 超出 [-180, 180]"),
        (120.0, 123.5, "lat", "纬度 123.5 超出 [-90, 90]"),
        (31.2, 121.5, "lat", "纬度 121.5 超出 [-90, 90]；经度和纬度似乎填反了"),
        (32.0, 80.0, "lat", "经度 32.0、纬度 80.0 似乎填反了"),
        ("x", 30.0, "lon", "经度应为数字"),
        (120.0, True, "lat", "纬度应为数字"),
    ],
)
def test_validate_lonlat_refuses(lon: object, lat: object, field: str, message: str) -> None:
    with pytest.raises(CoordinateError) as caught:
        validate_lonlat(lon, lat)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("lon", "lat"), [(116.4, 39.9), (-180.0, -90.0), (180.0, 90.0), ("120.5", "30.5"), (0, 0)]
)
def test_validate_lonlat_accepts(lon: object, lat: object) -> None:
    validate_lonlat(lon, lat)  # type: ignore[arg-type]


def test_valid_lonlat_array_matches_the_scalar_rules() -> None:
    lons = [116.4, math.nan, 180.5, 120.0, 31.2, 32.0, 0.0]
    lats = [39.9, 30.0, 30.0, math.inf, 121.5, 80.0, 0.0]
    assert valid_lonlat_array(lons, lats).tolist() == [
        True,
        False,
        False,
        False,
        False,
        False,
        True,
    ]
