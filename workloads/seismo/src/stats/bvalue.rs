//! Gutenberg–Richter b-value by maximum likelihood, Aki (1965) and Utsu (1965), with the
//! correction for magnitudes binned to ΔM (Utsu 1966; see Marzocchi & Sandri 2003):
//!
//!   b = log10(e) / (mean(M) − (Mc − ΔM/2))
//!
//! over the events with M ≥ Mc, and its standard error by Shi & Bolt (1982):
//!
//!   σ(b) = 2.30 b² σ(mean), σ²(mean) = Σ (Mi − mean)² / (n (n − 1))
//!
//! (2.30 being ln 10, used exactly here). Only with at least 50 events above Mc.

use super::NotEnough;
use super::mc::{BIN_WIDTH, bin, bin_mag};
use std::f64::consts::{LN_10, LOG10_E};

pub const B_MIN_EVENTS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BValue {
    pub b: f64,
    /// Shi & Bolt (1982) standard error.
    pub sigma: f64,
    /// Events with M ≥ Mc (binned).
    pub n: usize,
    pub mc: f64,
    /// Mean binned magnitude of those events.
    pub mean: f64,
}

/// `mags` are binned to 0.1 first; `mc_bin` is the completeness bin (see [`super::mc`]).
pub fn aki_utsu(mags: &[f64], mc_bin: i64) -> Result<BValue, NotEnough> {
    let above: Vec<f64> = mags
        .iter()
        .map(|&m| bin(m))
        .filter(|&k| k >= mc_bin)
        .map(bin_mag)
        .collect();
    let n = above.len();
    if n < B_MIN_EVENTS {
        return Err(NotEnough {
            events: n,
            required: B_MIN_EVENTS,
        });
    }
    let mc = bin_mag(mc_bin);
    let mean = above.iter().sum::<f64>() / n as f64;
    let b = LOG10_E / (mean - (mc - BIN_WIDTH / 2.0));
    let ss: f64 = above.iter().map(|m| (m - mean).powi(2)).sum();
    let sigma_mean = (ss / (n as f64 * (n as f64 - 1.0))).sqrt();
    Ok(BValue {
        b,
        sigma: LN_10 * b * b * sigma_mean,
        n,
        mc,
        mean,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_worked_example() {
        // 50 events: 20 at 3.0, 15 at 3.1, 10 at 3.3, 5 at 3.7 with Mc = 3.0.
        // mean = (60 + 46.5 + 33 + 18.5) / 50 = 3.16; b = 0.4342945 / (3.16 - 2.95) = 2.068069.
        // Σ(M - mean)^2 = 20(0.0256) + 15(0.0036) + 10(0.0196) + 5(0.2916) = 2.22;
        // σ(mean) = sqrt(2.22 / (50*49)) = 0.0301019; σ(b) = ln10 * b^2 * σ(mean) = 0.296442.
        let mut mags = vec![3.0; 20];
        mags.extend([3.1; 15]);
        mags.extend([3.3; 10]);
        mags.extend([3.7; 5]);
        mags.extend([2.9; 7]); // below Mc: ignored
        let b = aki_utsu(&mags, 30).unwrap();
        assert_eq!(b.n, 50);
        assert!((b.mean - 3.16).abs() < 1e-12);
        assert!((b.b - 2.068069).abs() < 1e-6, "{}", b.b);
        assert!((b.sigma - 0.296442).abs() < 1e-6, "{}", b.sigma);
    }

    #[test]
    fn fewer_than_fifty_above_mc_is_not_enough() {
        let mags = vec![3.0; 49];
        assert_eq!(
            aki_utsu(&mags, 30),
            Err(NotEnough {
                events: 49,
                required: B_MIN_EVENTS
            })
        );
    }
}
