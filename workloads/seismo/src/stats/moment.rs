//! Seismic moment and the swarm rule.
//!
//! Moment from magnitude by Hanks & Kanamori (1979), M0 = 10^(1.5 M + 9.1) N·m, applied to every
//! magnitude as if it were Mw (for local and body-wave magnitudes this is an approximation; it
//! only serves the classification below).
//!
//! The rule: a cluster is a **mainshock–aftershock** sequence when its largest event released at
//! least half of the cluster's summed moment; otherwise it is a **swarm** if it has at least 10
//! events, and a **multiplet** (a doublet or a few events of similar size) if it has fewer. In an
//! ordinary sequence (Gutenberg–Richter aftershocks with b ≈ 1, the largest about 1.2 units
//! below the mainshock, Båth's law) the aftershocks together release a few per cent of the
//! mainshock's moment, so the mainshock's share is above 90 %; in a swarm many events of
//! similar size share it. This is the "no dominant mainshock" of Mogi's (1963) type 3.

/// The largest event's share of the summed moment from which it dominates.
pub const DOMINANT_MOMENT_FRACTION: f64 = 0.5;
/// A cluster without a dominant event is a swarm from this many events.
pub const SWARM_MIN_EVENTS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MainshockAftershock,
    Swarm,
    Multiplet,
}

/// M0 in N·m.
pub fn moment(mag: f64) -> f64 {
    10f64.powf(1.5 * mag + 9.1)
}

/// The share of the summed moment released by the event of magnitude `largest` (one of `mags`).
/// Computed relative to the largest, so no overflow at any magnitude.
pub fn largest_share(largest: f64, mags: impl IntoIterator<Item = f64>) -> f64 {
    let sum: f64 = mags.into_iter().map(|m| 10f64.powf(1.5 * (m - largest))).sum();
    if sum > 0.0 { 1.0 / sum } else { 1.0 }
}

pub fn classify(share: f64, members: usize) -> Kind {
    if share >= DOMINANT_MOMENT_FRACTION {
        Kind::MainshockAftershock
    } else if members >= SWARM_MIN_EVENTS {
        Kind::Swarm
    } else {
        Kind::Multiplet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hanks_kanamori() {
        // Mw 6.0 is 1.26e18 N·m; one magnitude unit is a factor 10^1.5 = 31.6.
        assert!((moment(6.0) / 1.2589e18 - 1.0).abs() < 1e-4);
        assert!((moment(7.0) / moment(6.0) - 10f64.powf(1.5)).abs() < 1e-9);
    }

    #[test]
    fn the_rule() {
        // A mainshock with Båth-like aftershocks dominates.
        let seq = [6.0, 4.8, 4.5, 4.2, 4.0, 3.9, 3.5, 3.5, 3.2, 3.0, 3.0];
        let s = largest_share(6.0, seq);
        assert!(s > 0.9, "{s}");
        assert_eq!(classify(s, seq.len()), Kind::MainshockAftershock);
        // Twelve events of M 4.0-4.3: nobody dominates.
        let swarm = [4.3, 4.2, 4.2, 4.1, 4.1, 4.0, 4.0, 4.0, 4.0, 4.1, 4.2, 4.0];
        let s = largest_share(4.3, swarm);
        assert!(s < 0.3, "{s}");
        assert_eq!(classify(s, swarm.len()), Kind::Swarm);
        // A doublet: two M 5.5 and a few small events.
        let s = largest_share(5.5, [5.5, 5.5, 3.0]);
        assert!((s - 0.5).abs() < 0.01 && s < 0.5);
        assert_eq!(classify(s, 3), Kind::Multiplet);
        // Exactly half dominates (the bound is inclusive).
        assert_eq!(classify(0.5, 30), Kind::MainshockAftershock);
        assert_eq!(largest_share(9.5, [9.5]), 1.0);
    }
}
