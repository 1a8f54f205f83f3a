//! Seismic moment from a magnitude (Hanks & Kanamori 1979, in the IASPEI 2013 form) and the
//! equivalent moment magnitude of a sum of moments.
//!
//! - `M0 = 10^(1.5·Mw + 9.1)` N·m, and back `Mw = (2/3)·(log10 M0 − 9.1)`.
//! - Moment magnitudes (`mw`, `mww`, `mwc`, `mwb`, `mwr`, `mwp`, `mi`, ...: every type starting
//!   with `mw`, and `mi`) are used as they are.
//! - `mb` and `Ms` are converted to Mw with Scordilis (2006)'s global relations inside their
//!   stated ranges: `Mw = 0.85·mb + 1.03` (3.5 ≤ mb ≤ 6.2), `Mw = 0.67·Ms + 2.07`
//!   (3.0 ≤ Ms ≤ 6.1), `Mw = 0.99·Ms + 0.08` (6.2 ≤ Ms ≤ 8.2).
//! - Everything else (ML, Md, Mc, mb or Ms outside those ranges, an unknown or missing type) is
//!   taken as a proxy for Mw. Each aggregate says how many of its moments were direct,
//!   converted or proxies (`moment_basis`), so a reader can judge the figure.
//!
//! Moments are kept as integers (N·m, rounded), so that sums are exact and the same whatever the
//! order in which contributions are added and retracted.

use serde::{Deserialize, Serialize};

/// The constant of the IASPEI (2013) form of Hanks & Kanamori, for M0 in N·m.
pub const HK_CONSTANT: f64 = 9.1;

/// How a magnitude became a moment magnitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// A moment magnitude, used as it is.
    Mw,
    /// mb or Ms converted with Scordilis (2006).
    Converted,
    /// Another magnitude type taken as a proxy for Mw.
    Proxy,
}

impl Basis {
    pub const ALL: [Basis; 3] = [Basis::Mw, Basis::Converted, Basis::Proxy];
    pub fn index(self) -> usize {
        match self {
            Basis::Mw => 0,
            Basis::Converted => 1,
            Basis::Proxy => 2,
        }
    }
}

/// The moment magnitude for `mag` of type `magtype`, and how it was obtained.
pub fn to_mw(mag: f64, magtype: Option<&str>) -> (f64, Basis) {
    let t = magtype.unwrap_or("").trim();
    let is = |name: &str| t.eq_ignore_ascii_case(name);
    let starts = |prefix: &str| t.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix));
    if starts("mw") || is("mi") {
        return (mag, Basis::Mw);
    }
    if is("mb") && (3.5..=6.2).contains(&mag) {
        return (0.85 * mag + 1.03, Basis::Converted);
    }
    if is("ms") || starts("ms_") || is("ms20") {
        if (3.0..=6.1).contains(&mag) {
            return (0.67 * mag + 2.07, Basis::Converted);
        }
        if (6.2..=8.2).contains(&mag) {
            return (0.99 * mag + 0.08, Basis::Converted);
        }
    }
    (mag, Basis::Proxy)
}

/// Seismic moment in N·m of a moment magnitude, rounded to an integer.
pub fn moment_nm(mw: f64) -> u128 {
    let m0 = 10f64.powf(1.5 * mw + HK_CONSTANT);
    // Finite and below 10^25 for every magnitude the wire contract allows (≤ 10.5).
    m0.round() as u128
}

/// The moment magnitude equivalent to a total moment (None for zero).
pub fn equivalent_mw(total_nm: u128) -> Option<f64> {
    if total_nm == 0 {
        return None;
    }
    Some((2.0 / 3.0) * ((total_nm as f64).log10() - HK_CONSTANT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hanks_kanamori_round_trips_and_matches_published_values() {
        // Tohoku 2011: Mw 9.1 (USGS) ↔ about 5.6e22 N·m.
        let m0 = moment_nm(9.1) as f64;
        assert!((m0 / 5.62e22 - 1.0).abs() < 0.01, "{m0:e}");
        for mw in [-1.0, 2.0, 4.5, 6.0, 7.8, 9.5] {
            let back = equivalent_mw(moment_nm(mw)).unwrap();
            assert!((back - mw).abs() < 1e-3, "{mw} → {back}");
        }
        assert_eq!(equivalent_mw(0), None);
    }

    #[test]
    fn magnitudes_sum_as_moments_not_as_numbers() {
        // 32 events of Mw 5 release about the moment of one Mw 6 (10^1.5 ≈ 31.6).
        let total: u128 = (0..32).map(|_| moment_nm(5.0)).sum();
        let mw = equivalent_mw(total).unwrap();
        assert!((mw - 6.0).abs() < 0.01, "{mw}");
    }

    #[test]
    fn types_are_converted_or_proxied_as_documented() {
        assert_eq!(to_mw(5.0, Some("Mww")), (5.0, Basis::Mw));
        assert_eq!(to_mw(5.0, Some("mi")), (5.0, Basis::Mw));
        let (mw, b) = to_mw(5.0, Some("mb"));
        assert_eq!(b, Basis::Converted);
        assert!((mw - 5.28).abs() < 1e-9);
        assert_eq!(to_mw(3.0, Some("mb")), (3.0, Basis::Proxy), "outside Scordilis' range");
        let (mw, _) = to_mw(7.0, Some("Ms"));
        assert!((mw - 7.01).abs() < 1e-9);
        assert_eq!(to_mw(2.5, Some("ml")), (2.5, Basis::Proxy));
        assert_eq!(to_mw(2.5, None), (2.5, Basis::Proxy));
        // Every magnitude the contract allows fits the integer moment.
        assert!(moment_nm(10.5) > 0 && moment_nm(-3.0) > 0);
    }
}
