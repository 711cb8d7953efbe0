"""A cell raster over one level's polygons that answers most point lookups without GEOS.

Why: on the target machines one GEOS call through shapely costs 3-6 µs and building a
point another 6, so an STRtree query plus a prepared predicate cannot reach the 15 µs
budget of a single lookup. The raster classifies every cell once at build time:

* ``EMPTY``: no polygon touches the cell.
* ``INTERIOR``: one polygon covers the cell and no other polygon lies within the near
  distance of it: a lookup there is a single array read.
* complex cells, each with a candidate list sorted by code rank and the boundary segments
  lying within the near distance of the cell. ``owned`` cells are covered by one polygon
  alone, so only the neighbour distances are computed; the others (crossed by a boundary,
  or covered by overlapping polygons) ask GEOS which candidates cover the point.

Classification is exact: interior and owned cells are decided by an even-odd scanline
fill evaluated only on cells that no boundary segment touches (expanded by ``_EPS``), and
everything near a boundary goes to GEOS's robust predicates. Distances are metric in a
local equirectangular frame (x scaled by cos(lat)), exact enough at tens of metres.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

# Metres per degree of latitude on the mean sphere (IUGG R = 6,371,008.8 m).
M_PER_DEG = 6371008.8 * np.pi / 180.0
EMPTY = -1
# Cells with code <= COMPLEX_BASE are complex cell number (COMPLEX_BASE - code).
COMPLEX_BASE = -2
# Cell boxes are grown by this much (degrees, ~0.1 mm) when testing which segments cross
# them, so rounding of a point's cell index can never move it out of a box classified clean.
_EPS = 1e-9
_CELLS_PER_POLYGON = 256
_MIN_CELLS = 1 << 18
SIDE_PER_NEAR = 0.5
SEGMENT_CELLS = 8.0
_MAX_CELLS = 1 << 22
# Bytes per packed segment: five float32.
PAIR_BYTES = 20
# Bounds the temporary arrays of the build (pairs of segment and cell processed at once).
_PAIR_BATCH = 1 << 21

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def expand_ranges(starts: IntArray, counts: IntArray) -> tuple[IntArray, IntArray]:
    """Return (owner, position) for every element of the ranges starts[i]:starts[i]+counts[i]."""
    total = int(counts.sum())
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, starts[owner] + offsets


def _point_box_distance(px: FloatArray, py: FloatArray, w: FloatArray, h: FloatArray) -> FloatArray:
    dx = np.maximum(np.maximum(-px, px - w), 0.0)
    dy = np.maximum(np.maximum(-py, py - h), 0.0)
    return np.hypot(dx, dy)


def _point_segment_distance(
    px: FloatArray,
    py: FloatArray,
    ax: FloatArray,
    ay: FloatArray,
    dx: FloatArray,
    dy: FloatArray,
) -> FloatArray:
    length2 = dx * dx + dy * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        t = ((px - ax) * dx + (py - ay) * dy) / length2
    t = np.clip(np.nan_to_num(t, nan=0.0), 0.0, 1.0)
    return np.hypot(ax + t * dx - px, ay + t * dy - py)


def _segment_box_distance(
    ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray, w: FloatArray, h: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Return the least and greatest distances from segments AB to boxes [0, w] x [0, h].

    The least is 0 where they meet; the greatest is reached at a corner of the box, since
    the distance to a segment is convex.
    """
    dx = bx - ax
    dy = by - ay
    # Liang-Barsky clipping decides intersection.
    t0 = np.zeros_like(ax)
    t1 = np.ones_like(ax)
    meets = np.ones(ax.shape, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for p, q in ((-dx, ax), (dx, w - ax), (-dy, ay), (dy, h - ay)):
            parallel = p == 0.0
            meets &= ~(parallel & (q < 0.0))
            r = q / p
            t0 = np.where(~parallel & (p < 0.0), np.maximum(t0, r), t0)
            t1 = np.where(~parallel & (p > 0.0), np.minimum(t1, r), t1)
    meets &= t0 <= t1
    least = np.minimum(_point_box_distance(ax, ay, w, h), _point_box_distance(bx, by, w, h))
    greatest = np.zeros_like(ax)
    for cx, cy in ((greatest, greatest), (w, greatest), (greatest, h), (w, h)):
        corner = _point_segment_distance(cx, cy, ax, ay, dx, dy)
        least = np.minimum(least, corner)
        greatest = np.maximum(greatest, corner)
    return np.where(meets, 0.0, least), greatest


@dataclass(slots=True)
class _Segments:
    x1: FloatArray
    y1: FloatArray
    x2: FloatArray
    y2: FloatArray
    poly: IntArray


def _segments(geoms: npt.NDArray[np.object_], max_length: float) -> _Segments:
    """Return every ring segment of the polygons, densified to at most max_length degrees."""
    dense = shapely.segmentize(geoms, max_length)
    parts, part_poly = shapely.get_parts(dense, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    same_ring = coord_ring[:-1] == coord_ring[1:]
    start = np.flatnonzero(same_ring)
    return _Segments(
        x1=coords[start, 0],
        y1=coords[start, 1],
        x2=coords[start + 1, 0],
        y2=coords[start + 1, 1],
        poly=part_poly[ring_part[coord_ring[start]]].astype(np.int64),
    )


class LevelRaster:
    """The cell raster of one level; see the module docstring for the cell kinds."""

    __slots__ = (
        "cand_idx",
        "cand_ptr",
        "cell",
        "cell_np",
        "ch",
        "cw",
        "geoms",
        "inv_ch",
        "inv_cw",
        "kx_rows",
        "kx_rows_np",
        "nx",
        "ny",
        "owned",
        "owned_np",
        "pair_ptr",
        "pair_ptr_np",
        "pairs",
        "pairs_np",
        "x0",
        "x1",
        "y0",
        "y1",
    )

    def __init__(self, geoms: npt.NDArray[np.object_], near_m: float) -> None:
        self.geoms = geoms
        reach_m = near_m * 1.01 + 0.1
        minx, miny, maxx, maxy = (float(v) for v in shapely.total_bounds(geoms))
        lat_abs = min(max(abs(miny), abs(maxy)), 89.0)
        pad_y = reach_m / M_PER_DEG
        pad_x = reach_m / (M_PER_DEG * np.cos(np.radians(lat_abs)))
        minx, maxx, miny, maxy = minx - pad_x, maxx + pad_x, miny - pad_y, maxy + pad_y
        kx0 = M_PER_DEG * np.cos(np.radians((miny + maxy) / 2.0))
        width_m, height_m = (maxx - minx) * kx0, (maxy - miny) * M_PER_DEG
        target = min(max(_CELLS_PER_POLYGON * len(geoms), _MIN_CELLS), _MAX_CELLS)
        side_m = max(float(np.sqrt(width_m * height_m / target)), near_m * SIDE_PER_NEAR, 1.0)
        self.nx = max(int(np.ceil(width_m / side_m)), 1)
        self.ny = max(int(np.ceil(height_m / side_m)), 1)
        while self.nx * self.ny > _MAX_CELLS:
            side_m *= 1.1
            self.nx = max(int(np.ceil(width_m / side_m)), 1)
            self.ny = max(int(np.ceil(height_m / side_m)), 1)
        self.cw = (maxx - minx) / self.nx
        self.ch = (maxy - miny) / self.ny
        self.inv_cw, self.inv_ch = 1.0 / self.cw, 1.0 / self.ch
        self.x0, self.y0 = minx, miny
        self.x1, self.y1 = minx + self.nx * self.cw, miny + self.ny * self.ch

        row_lat = self.y0 + (np.arange(self.ny) + 0.5) * self.ch
        self.kx_rows_np = M_PER_DEG * np.cos(np.radians(row_lat))
        self.kx_rows = self.kx_rows_np.data

        segs = _segments(geoms, SEGMENT_CELLS * min(self.cw, self.ch))
        count, idsum = self._fill(segs)
        near_cell, near_seg, crossing = self._near_pairs(segs, reach_m)
        self._classify(geoms, segs, count, idsum, near_cell, near_seg, crossing)

    def _fill(self, segs: _Segments) -> tuple[IntArray, IntArray]:
        """Return, per cell centre, how many polygons cover it and the sum of their indices."""
        nx, ny = self.nx, self.ny
        yc = self.y0 + (np.arange(ny) + 0.5) * self.ch
        xc = self.x0 + (np.arange(nx) + 0.5) * self.cw
        ylo, yhi = np.minimum(segs.y1, segs.y2), np.maximum(segs.y1, segs.y2)
        # Half-open rule [ylo, yhi) against the same yc values keeps shared vertices
        # consistent, so every ring crosses every row an even number of times.
        r_lo = np.searchsorted(yc, ylo, "left")
        r_hi = np.searchsorted(yc, yhi, "left")
        seg, rows = expand_ranges(r_lo, (r_hi - r_lo).astype(np.int64))
        y1, x1 = segs.y1[seg], segs.x1[seg]
        x = x1 + (yc[rows] - y1) * (segs.x2[seg] - x1) / (segs.y2[seg] - y1)
        poly = segs.poly[seg]
        order = np.lexsort((x, rows, poly))
        x, rows, poly = x[order], rows[order], poly[order]
        c_in = np.searchsorted(xc, x[0::2], "left")
        c_out = np.searchsorted(xc, x[1::2], "left")
        r, p = rows[0::2], poly[0::2]
        width = nx + 1
        size = ny * width
        starts = r * width + c_in
        ends = r * width + c_out
        count = np.bincount(starts, minlength=size) - np.bincount(ends, minlength=size)
        ids = p.astype(np.float64)
        idsum = np.bincount(starts, ids, minlength=size) - np.bincount(ends, ids, minlength=size)
        count = np.cumsum(count.reshape(ny, width), axis=1)[:, :nx].ravel()
        idsum = np.rint(np.cumsum(idsum.reshape(ny, width), axis=1)[:, :nx]).ravel()
        return count.astype(np.int64), idsum.astype(np.int64)

    def _near_pairs(
        self, segs: _Segments, reach_m: float
    ) -> tuple[IntArray, IntArray, npt.NDArray[np.bool_]]:
        """Return the (cell, segment) pairs within reach, and whether the segment meets the cell.

        A segment farther from every point of the cell than another segment of the same
        polygon can never be that polygon's nearest, so it is dropped.
        """
        lat_abs = np.minimum(np.maximum(np.abs(segs.y1), np.abs(segs.y2)), 89.0)
        pad_x = reach_m / (M_PER_DEG * np.cos(np.radians(lat_abs))) + _EPS
        pad_y = reach_m / M_PER_DEG + _EPS
        c0 = np.floor((np.minimum(segs.x1, segs.x2) - pad_x - self.x0) * self.inv_cw)
        c1 = np.floor((np.maximum(segs.x1, segs.x2) + pad_x - self.x0) * self.inv_cw)
        r0 = np.floor((np.minimum(segs.y1, segs.y2) - pad_y - self.y0) * self.inv_ch)
        r1 = np.floor((np.maximum(segs.y1, segs.y2) + pad_y - self.y0) * self.inv_ch)
        c0 = np.clip(c0, 0, self.nx - 1).astype(np.int64)
        c1 = np.clip(c1, 0, self.nx - 1).astype(np.int64)
        r0 = np.clip(r0, 0, self.ny - 1).astype(np.int64)
        r1 = np.clip(r1, 0, self.ny - 1).astype(np.int64)
        ncols = c1 - c0 + 1
        npairs = ncols * (r1 - r0 + 1)
        # Batches end on polygon boundaries (segments come polygon by polygon), so the
        # pruning by (cell, polygon) below sees whole groups and memory stays bounded.
        cum = np.cumsum(npairs)
        poly_end = np.flatnonzero(np.r_[segs.poly[1:] != segs.poly[:-1], True]) + 1
        wanted = np.arange(_PAIR_BATCH, int(cum[-1]) + _PAIR_BATCH, _PAIR_BATCH)
        ends = np.unique(
            poly_end[
                np.minimum(np.searchsorted(cum[poly_end - 1], wanted, "left"), len(poly_end) - 1)
            ]
        )
        npoly = int(segs.poly.max(initial=0)) + 1
        cells_out: list[IntArray] = []
        segs_out: list[IntArray] = []
        cross_out: list[npt.NDArray[np.bool_]] = []
        lo = 0
        for hi in ends.tolist():
            seg_rel, pos = expand_ranges(np.zeros(hi - lo, dtype=np.int64), npairs[lo:hi])
            seg = seg_rel + lo
            col = c0[seg] + pos % ncols[seg]
            row = r0[seg] + pos // ncols[seg]
            bx0 = self.x0 + col * self.cw - _EPS
            by0 = self.y0 + row * self.ch - _EPS
            kx = self.kx_rows_np[row]
            w = (self.cw + 2 * _EPS) * kx
            h = np.full(len(seg), (self.ch + 2 * _EPS) * M_PER_DEG)
            near, far = _segment_box_distance(
                (segs.x1[seg] - bx0) * kx,
                (segs.y1[seg] - by0) * M_PER_DEG,
                (segs.x2[seg] - bx0) * kx,
                (segs.y2[seg] - by0) * M_PER_DEG,
                w,
                h,
            )
            keep = near <= reach_m
            cell, seg, near, far = (row * self.nx + col)[keep], seg[keep], near[keep], far[keep]
            key = cell * npoly + segs.poly[seg]
            order = np.argsort(key, kind="stable")
            key, cell, seg, near, far = key[order], cell[order], seg[order], near[order], far[order]
            first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
            bound = np.repeat(np.minimum.reduceat(far, first), np.diff(np.r_[first, len(key)]))
            # The slack covers the difference between the cell's and the point's scale.
            keep = near <= bound * 1.001 + 0.01
            cells_out.append(cell[keep])
            segs_out.append(seg[keep])
            cross_out.append(near[keep] == 0.0)
            lo = hi
        return np.concatenate(cells_out), np.concatenate(segs_out), np.concatenate(cross_out)

    def _classify(
        self,
        geoms: npt.NDArray[np.object_],
        segs: _Segments,
        count: IntArray,
        idsum: IntArray,
        near_cell: IntArray,
        near_seg: IntArray,
        crossing: npt.NDArray[np.bool_],
    ) -> None:
        ncells = self.nx * self.ny
        near_poly = segs.poly[near_seg]
        crossed = np.zeros(ncells, dtype=bool)
        crossed[near_cell[crossing]] = True
        overlapped = count >= 2
        # A segment of another polygon near an owned cell makes it complex.
        foreign = (count[near_cell] != 1) | (near_poly != idsum[near_cell])
        has_foreign = np.zeros(ncells, dtype=bool)
        has_foreign[near_cell[foreign]] = True
        complex_mask = crossed | overlapped | ((count == 1) & has_foreign)

        cell = np.where(count == 1, idsum, EMPTY)
        complex_cells = np.flatnonzero(complex_mask)
        ncomplex = len(complex_cells)
        number = np.full(ncells, -1, dtype=np.int64)
        number[complex_cells] = np.arange(ncomplex)
        cell[complex_cells] = COMPLEX_BASE - np.arange(ncomplex)
        self.cell_np = cell.astype(np.int32)
        owned_all = complex_mask & (count == 1) & ~crossed
        self.owned_np = owned_all[complex_cells]

        # Candidates: polygons with a segment crossing the cell, plus the polygon covering
        # it (count == 1), plus an STRtree query for the rare overlapped cells.
        cand_c: list[IntArray] = [number[near_cell[crossing]]]
        cand_p: list[IntArray] = [near_poly[crossing]]
        single = complex_cells[count[complex_cells] == 1]
        cand_c.append(number[single])
        cand_p.append(idsum[single])
        multi = complex_cells[count[complex_cells] >= 2]
        if len(multi):
            col, row = multi % self.nx, multi // self.nx
            boxes = shapely.box(
                self.x0 + col * self.cw - _EPS,
                self.y0 + row * self.ch - _EPS,
                self.x0 + (col + 1) * self.cw + _EPS,
                self.y0 + (row + 1) * self.ch + _EPS,
            )
            box_i, poly_i = shapely.STRtree(geoms).query(boxes, predicate="intersects")
            cand_c.append(number[multi[box_i]])
            cand_p.append(poly_i.astype(np.int64))
        npoly = len(geoms)
        key = np.concatenate(cand_c) * npoly + np.concatenate(cand_p)
        key.sort()
        key = key[np.r_[True, key[1:] != key[:-1]]]
        cc, cp = key // npoly, key % npoly
        self.cand_idx = cp.astype(np.int32)
        self.cand_ptr = np.r_[0, np.cumsum(np.bincount(cc, minlength=ncomplex))].astype(np.int64)

        # Segments per complex cell, packed as float32 (x1, y1, dx, dy, polygon) in metres
        # from the cell's lower-left corner: contiguous, so the lookup reads one cache line
        # per segment instead of chasing objects. Owned cells keep only other polygons'.
        keep = number[near_cell] >= 0
        keep &= ~(owned_all[near_cell] & (near_poly == idsum[near_cell]))
        pair_cell, pair_seg = near_cell[keep], near_seg[keep]
        order = np.lexsort((pair_seg, pair_cell))
        pair_cell, pair_seg = pair_cell[order], pair_seg[order]
        row = pair_cell // self.nx
        ox = self.x0 + (pair_cell % self.nx) * self.cw
        oy = self.y0 + row * self.ch
        kx = self.kx_rows_np[row]
        packed = np.empty((len(pair_seg), 5), dtype=np.float32)
        packed[:, 0] = (segs.x1[pair_seg] - ox) * kx
        packed[:, 1] = (segs.y1[pair_seg] - oy) * M_PER_DEG
        packed[:, 2] = (segs.x2[pair_seg] - segs.x1[pair_seg]) * kx
        packed[:, 3] = (segs.y2[pair_seg] - segs.y1[pair_seg]) * M_PER_DEG
        packed[:, 4] = segs.poly[pair_seg]
        self.pairs_np = packed
        self.pair_ptr_np = np.r_[
            0, np.cumsum(np.bincount(number[pair_cell], minlength=ncomplex))
        ].astype(np.int64)

        # The single-point path reads through memoryviews: indexing one yields a Python int
        # or float, several times faster than a numpy scalar, and shares the array's memory.
        self.cell = self.cell_np.data
        self.owned = self.owned_np.view(np.int8).data
        self.pairs = packed.data.cast("B")
        self.pair_ptr = (self.pair_ptr_np * PAIR_BYTES).data

    def cell_of(self, lon: float, lat: float) -> int:
        """Return the cell code for one point (EMPTY outside the raster)."""
        if not (self.x0 <= lon < self.x1 and self.y0 <= lat < self.y1):
            return EMPTY
        return self.cell[
            int((lat - self.y0) * self.inv_ch) * self.nx + int((lon - self.x0) * self.inv_cw)
        ]

    def cells_of(self, lons: FloatArray, lats: FloatArray) -> tuple[IntArray, IntArray]:
        """Return the cell codes (EMPTY outside the raster) and flat cell numbers of points."""
        col = np.floor((lons - self.x0) * self.inv_cw)
        row = np.floor((lats - self.y0) * self.inv_ch)
        inside = (col >= 0) & (col < self.nx) & (row >= 0) & (row < self.ny)
        flat = np.where(inside, row * self.nx + col, 0).astype(np.int64)
        return np.where(inside, self.cell_np[flat], EMPTY).astype(np.int64), flat
