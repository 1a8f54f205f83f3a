//! A space-time index: a latitude/longitude grid whose cells keep their events in time order.
//! A query returns a superset of the events within a distance and a time range; callers apply
//! the exact window test.

use crate::geo::KM_PER_DEGREE;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// Cell size, degrees: about 55 km of latitude, the window of an M 6 (GK windows span 4 to 190 km).
pub(crate) const CELL_DEG: f64 = 0.5;
const LAT_CELLS: i32 = (180.0 / CELL_DEG) as i32;
const LON_CELLS: i32 = (360.0 / CELL_DEG) as i32;
/// Within this many degrees of a pole a query spans every longitude.
const POLAR_CAP_DEG: f64 = 1.0;
/// Relative slack on the query radius (the longitude bound is already conservative).
const RADIUS_SLACK: f64 = 1.01;

#[derive(Debug, Default, Clone)]
pub(crate) struct Grid {
    cells: HashMap<u32, BTreeSet<(i64, u32)>, BuildHasherDefault<CellHasher>>,
    len: usize,
}

/// Cell keys are small integers chosen by us, not by an adversary: a multiplicative
/// (Fibonacci) hash is enough, and several times cheaper than SipHash on the query path.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CellHasher(u64);

impl Hasher for CellHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, v: u32) {
        self.0 = (self.0 ^ u64::from(v)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

fn key(row: i32, col: i32) -> u32 {
    (row * LON_CELLS + col) as u32
}

fn lat_cell(lat: f64) -> i32 {
    (((lat + 90.0) / CELL_DEG).floor() as i32).clamp(0, LAT_CELLS - 1)
}

fn lon_cell(lon: f64) -> i32 {
    (((lon + 180.0) / CELL_DEG).floor() as i32).rem_euclid(LON_CELLS)
}

impl Grid {
    pub fn insert(&mut self, lat: f64, lon: f64, time_us: i64, idx: u32) {
        if self
            .cells
            .entry(key(lat_cell(lat), lon_cell(lon)))
            .or_default()
            .insert((time_us, idx))
        {
            self.len += 1;
        }
    }

    pub fn remove(&mut self, lat: f64, lon: f64, time_us: i64, idx: u32) -> bool {
        let k = key(lat_cell(lat), lon_cell(lon));
        let Some(cell) = self.cells.get_mut(&k) else {
            return false;
        };
        let removed = cell.remove(&(time_us, idx));
        if cell.is_empty() {
            self.cells.remove(&k);
        }
        self.len -= usize::from(removed);
        removed
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `f` for every event in a cell that may hold points within `radius_km` of
    /// (`lat`, `lon`), whose time is in [`t_lo`, `t_hi`].
    pub fn query(&self, lat: f64, lon: f64, radius_km: f64, t_lo: i64, t_hi: i64, mut f: impl FnMut(u32)) {
        if self.is_empty() || t_lo > t_hi {
            return;
        }
        let dlat = radius_km * RADIUS_SLACK / KM_PER_DEGREE;
        let (lat_lo, lat_hi) = ((lat - dlat).max(-90.0), (lat + dlat).min(90.0));
        let phi_max = lat_lo.abs().max(lat_hi.abs());
        // Within the cap, a point at distance r lies within r / cos(phi_max) degrees of longitude,
        // phi_max being the largest latitude the cap reaches.
        let dlon = if phi_max >= 90.0 - POLAR_CAP_DEG {
            f64::INFINITY
        } else {
            dlat / phi_max.to_radians().cos()
        };
        let (first, count) = if dlon >= 180.0 {
            (0, LON_CELLS)
        } else {
            let first = ((lon - dlon + 180.0) / CELL_DEG).floor() as i32;
            let last = ((lon + dlon + 180.0) / CELL_DEG).floor() as i32;
            (first, (last - first + 1).min(LON_CELLS))
        };
        for row in lat_cell(lat_lo)..=lat_cell(lat_hi) {
            for c in first..first + count {
                if let Some(cell) = self.cells.get(&key(row, c.rem_euclid(LON_CELLS))) {
                    for &(_, idx) in cell.range((t_lo, 0)..=(t_hi, u32::MAX)) {
                        f(idx);
                    }
                }
            }
        }
    }
}

/// Saturating conversion of a time bound (µs, as f64) to the index's integer times.
pub(crate) fn lower(t: f64) -> i64 {
    t.floor().clamp(i64::MIN as f64, i64::MAX as f64) as i64
}

pub(crate) fn upper(t: f64) -> i64 {
    t.ceil().clamp(i64::MIN as f64, i64::MAX as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::haversine_km;

    fn found(g: &Grid, lat: f64, lon: f64, r: f64) -> BTreeSet<u32> {
        let mut s = BTreeSet::new();
        g.query(lat, lon, r, i64::MIN, i64::MAX, |i| {
            s.insert(i);
        });
        s
    }

    #[test]
    fn a_query_finds_every_point_within_the_radius_anywhere_on_earth() {
        // Points on a lattice including the poles and the antimeridian; every point within r of
        // every probe must be returned.
        let mut g = Grid::default();
        let mut pts = Vec::new();
        for i in 0..=72 {
            for j in 0..144 {
                let (lat, lon) = (-90.0 + i as f64 * 2.5, -180.0 + j as f64 * 2.5);
                g.insert(lat, lon, 0, pts.len() as u32);
                pts.push((lat, lon));
            }
        }
        for (plat, plon) in [(0.0, 179.9), (89.5, 10.0), (-88.7, -179.0), (45.0, -0.1), (60.0, 180.0)] {
            for r in [5.0, 60.0, 200.0, 400.0] {
                let got = found(&g, plat, plon, r);
                for (i, &(lat, lon)) in pts.iter().enumerate() {
                    if haversine_km(plat, plon, lat, lon) <= r {
                        assert!(
                            got.contains(&(i as u32)),
                            "probe ({plat},{plon}) r={r}: missed ({lat},{lon})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn time_range_and_removal() {
        let mut g = Grid::default();
        g.insert(40.0, 28.0, 10, 1);
        g.insert(40.0, 28.0, 20, 2);
        let mut s = Vec::new();
        g.query(40.0, 28.0, 10.0, 15, 25, |i| s.push(i));
        assert_eq!(s, vec![2]);
        assert!(g.remove(40.0, 28.0, 20, 2));
        assert!(!g.remove(40.0, 28.0, 20, 2));
        assert!(!g.is_empty());
        assert!(g.remove(40.0, 28.0, 10, 1));
        assert!(g.is_empty());
    }
}
