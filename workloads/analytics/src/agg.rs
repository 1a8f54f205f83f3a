//! The measures of one window (or of one pane, or of one partition's share of a pane), kept so
//! that they merge exactly: integer counts, moments in whole N·m, depths in whole metres. Adding
//! and retracting the same contributions in any order gives the same bits.

use crate::event::Event;
use crate::moment::{self, Basis};
use crate::window::{Band, Dim};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::sync::Arc;

/// The largest event: by magnitude, then the earlier origin time, then the smaller unid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Largest {
    pub mag: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub magtype: Option<Arc<str>>,
    pub unid: Arc<str>,
    /// Origin time, µs since the epoch.
    pub time_us: i64,
}

impl Largest {
    /// `Greater` when `self` ranks above `other`.
    pub fn rank_cmp(&self, other: &Largest) -> Ordering {
        self.mag
            .total_cmp(&other.mag)
            .then_with(|| other.time_us.cmp(&self.time_us))
            .then_with(|| other.unid.cmp(&self.unid))
    }
}

/// Mergeable measures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Agg {
    /// Events (earthquakes) in the window.
    #[serde(rename = "n")]
    pub count: u64,
    /// Events without a magnitude (counted, but in no band and with no moment).
    #[serde(rename = "nm", default)]
    pub no_mag: u64,
    /// Events per band: < 2, 2–4, 4–6, ≥ 6.
    #[serde(rename = "b")]
    pub bands: [u64; 4],
    /// Summed seismic moment, N·m (a string on the wire: it can exceed 2^64).
    #[serde(rename = "m0", with = "u128_string")]
    pub moment_nm: u128,
    /// How the moments were obtained: Mw used as is, converted (mb, Ms), proxy (others).
    #[serde(rename = "mb")]
    pub basis: [u64; 3],
    /// Summed depth in metres (for the mean).
    #[serde(rename = "dm")]
    pub depth_m: i64,
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub largest: Option<Largest>,
}

mod u128_string {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What one event adds to every window it is in.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    pub band: Option<Band>,
    pub moment_nm: u128,
    pub basis: Option<Basis>,
    pub depth_m: i64,
    pub largest: Option<Largest>,
}

impl Contribution {
    /// `None` for events that do not count (not earthquakes).
    pub fn of(unid: &str, e: &Event) -> Option<Contribution> {
        if !e.earthquake {
            return None;
        }
        let (band, moment_nm, basis, largest) = match e.mag {
            Some(mag) => {
                let (mw, basis) = moment::to_mw(mag, e.magtype.as_deref());
                let largest = Largest {
                    mag,
                    magtype: e.magtype.clone(),
                    unid: unid.into(),
                    time_us: e.time_us,
                };
                (Some(Band::of(mag)), moment::moment_nm(mw), Some(basis), Some(largest))
            }
            None => (None, 0, None, None),
        };
        Some(Contribution {
            band,
            moment_nm,
            basis,
            depth_m: (e.depth_km * 1000.0).round() as i64,
            largest,
        })
    }

    /// The dimensions the event is counted in: the world, its region, its band (if it has a magnitude).
    pub fn dims(&self, e: &Event) -> impl Iterator<Item = Dim> {
        [
            Some(Dim::World),
            Some(Dim::Region(e.region.clone())),
            self.band.map(Dim::Band),
        ]
        .into_iter()
        .flatten()
    }
}

impl Agg {
    /// Adds (`sign = 1`) or retracts (`sign = -1`) a contribution's sums; the largest event is
    /// handled by the caller (a maximum cannot be retracted from a summary).
    pub fn add_sums(&mut self, c: &Contribution, sign: i64) {
        let apply = |v: &mut u64| {
            *v = if sign > 0 {
                *v + 1
            } else {
                v.checked_sub(1).expect("retracting what was added")
            };
        };
        apply(&mut self.count);
        match c.band {
            Some(b) => apply(&mut self.bands[b.index()]),
            None => apply(&mut self.no_mag),
        }
        if let Some(basis) = c.basis {
            apply(&mut self.basis[basis.index()]);
        }
        if sign > 0 {
            self.moment_nm += c.moment_nm;
        } else {
            self.moment_nm -= c.moment_nm;
        }
        self.depth_m += sign * c.depth_m;
    }

    /// Adds a contribution, largest event included (for batch computations).
    pub fn add(&mut self, c: &Contribution) {
        self.add_sums(c, 1);
        self.offer_largest(c.largest.as_ref());
    }

    pub fn offer_largest(&mut self, l: Option<&Largest>) {
        if let Some(l) = l
            && self
                .largest
                .as_ref()
                .is_none_or(|cur| l.rank_cmp(cur) == Ordering::Greater)
        {
            self.largest = Some(l.clone());
        }
    }

    /// Folds another partial in.
    pub fn merge(&mut self, o: &Agg) {
        self.count += o.count;
        self.no_mag += o.no_mag;
        for i in 0..4 {
            self.bands[i] += o.bands[i];
        }
        for i in 0..3 {
            self.basis[i] += o.basis[i];
        }
        self.moment_nm += o.moment_nm;
        self.depth_m += o.depth_m;
        self.offer_largest(o.largest.as_ref());
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn mean_depth_km(&self) -> Option<f64> {
        (self.count > 0).then(|| self.depth_m as f64 / self.count as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quakestream_core::model::Source;

    fn ev(mag: Option<f64>, depth: f64) -> Event {
        Event {
            time_us: 0,
            lastupdate_us: 0,
            lat: 0.0,
            lon: 0.0,
            depth_km: depth,
            mag,
            magtype: Some("mw".into()),
            region: "R".into(),
            earthquake: true,
            source: Source::Emsc,
        }
    }

    #[test]
    fn adding_then_retracting_restores_the_exact_sums() {
        let cs: Vec<_> = [(Some(2.1), 10.3), (None, 5.0), (Some(6.4), 33.333), (Some(-0.5), -1.2)]
            .iter()
            .enumerate()
            .map(|(i, (m, d))| Contribution::of(&format!("e{i}"), &ev(*m, *d)).unwrap())
            .collect();
        let mut a = Agg::default();
        a.add_sums(&cs[0], 1);
        let snapshot = a.clone();
        for c in &cs[1..] {
            a.add_sums(c, 1);
        }
        for c in cs[1..].iter().rev() {
            a.add_sums(c, -1);
        }
        assert_eq!(a, snapshot);
        let mut all = Agg::default();
        for c in &cs {
            all.add(c);
        }
        assert_eq!(all.count, 4);
        assert_eq!(all.no_mag, 1);
        assert_eq!(all.bands, [1, 1, 0, 1]);
        assert_eq!(all.largest.as_ref().unwrap().mag, 6.4);
        assert!((all.mean_depth_km().unwrap() - (10.3 + 5.0 + 33.333 - 1.2) / 4.0).abs() < 1e-3);
    }

    #[test]
    fn non_earthquakes_do_not_count() {
        let mut e = ev(Some(3.0), 1.0);
        e.earthquake = false;
        assert_eq!(Contribution::of("x", &e), None);
    }

    #[test]
    fn largest_ties_go_to_the_earlier_then_the_smaller_unid() {
        let l = |mag, t, u: &str| Largest {
            mag,
            magtype: None,
            unid: u.into(),
            time_us: t,
        };
        assert_eq!(l(5.0, 1, "b").rank_cmp(&l(5.0, 2, "a")), Ordering::Greater);
        assert_eq!(l(5.0, 1, "a").rank_cmp(&l(5.0, 1, "b")), Ordering::Greater);
        assert_eq!(l(5.1, 9, "z").rank_cmp(&l(5.0, 1, "a")), Ordering::Greater);
    }

    #[test]
    fn moments_beyond_u64_survive_json() {
        let a = Agg {
            moment_nm: u128::from(u64::MAX) * 1000,
            ..Default::default()
        };
        let back: Agg = serde_json::from_slice(&serde_json::to_vec(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }
}
