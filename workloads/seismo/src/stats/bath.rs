//! Båth's law (Båth 1965; Richter 1958): on average the largest aftershock is 1.2 magnitude
//! units below its mainshock, whatever the mainshock's size.
//!
//! One sequence's ΔM scatters widely around that mean. If aftershock magnitudes follow
//! Gutenberg–Richter (exponential with β = b ln 10) and their number above any level is Poisson,
//! the largest aftershock follows a Gumbel (type-I extreme-value) law of scale 1/β exactly
//! (Vere-Jones 1969, 2008); fixing its mean so that E[ΔM] = 1.2 gives
//!
//!   P(ΔM ≤ x) = 1 − exp(−exp(−((1.2 − x) β + γ)))      (γ: Euler–Mascheroni constant)
//!
//! The check reports where the observed ΔM falls in that distribution.

use std::f64::consts::LN_10;

pub const BATH_DELTA_M: f64 = 1.2;
/// ΔM in the outer 5 % of either tail is called unusual.
pub const BATH_TAIL: f64 = 0.05;
/// b-value assumed when the sequence has none of its own.
pub const DEFAULT_B: f64 = 1.0;
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the central 90 % of the distribution.
    Typical,
    /// ΔM in the lower 5 %: the largest aftershock is unusually close to the mainshock (a doublet?).
    LargeAftershock,
    /// ΔM in the upper 5 %: aftershocks unusually small.
    SmallAftershocks,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bath {
    pub delta_m: f64,
    /// P(ΔM ≤ observed) under the distribution above.
    pub percentile: f64,
    /// The b-value the distribution was drawn with.
    pub b: f64,
    pub verdict: Verdict,
}

pub fn percentile(delta_m: f64, b: f64) -> f64 {
    let beta = b * LN_10;
    1.0 - (-(-((BATH_DELTA_M - delta_m) * beta + EULER_GAMMA)).exp()).exp()
}

pub fn check(mainshock_mag: f64, largest_aftershock_mag: f64, b: Option<f64>) -> Bath {
    let b = b.filter(|b| b.is_finite() && *b > 0.0).unwrap_or(DEFAULT_B);
    let delta_m = mainshock_mag - largest_aftershock_mag;
    let pct = percentile(delta_m, b);
    let verdict = if pct < BATH_TAIL {
        Verdict::LargeAftershock
    } else if pct > 1.0 - BATH_TAIL {
        Verdict::SmallAftershocks
    } else {
        Verdict::Typical
    };
    Bath {
        delta_m,
        percentile: pct,
        b,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_distribution_has_mean_one_point_two() {
        // Integrate x dF numerically over a wide range: the mean must be Båth's 1.2, for any b.
        for b in [0.8, 1.0, 1.3] {
            let (lo, hi, n) = (-8.0, 10.0, 200_000);
            let h = (hi - lo) / n as f64;
            let mut mean = 0.0;
            for i in 0..n {
                let x = lo + (i as f64 + 0.5) * h;
                mean += x * (percentile(x + h / 2.0, b) - percentile(x - h / 2.0, b));
            }
            assert!((mean - BATH_DELTA_M).abs() < 1e-6, "b={b}: mean {mean}");
        }
    }

    #[test]
    fn verdicts() {
        // Marmara 2025-04-23: Mw 6.2 and Mw 5.3, ΔM = 0.9: typical (about the 25th percentile).
        let m = check(6.2, 5.3, None);
        assert!((m.delta_m - 0.9).abs() < 1e-9);
        assert!((0.2..0.3).contains(&m.percentile), "{}", m.percentile);
        assert_eq!(m.verdict, Verdict::Typical);
        assert_eq!(check(6.0, 5.95, Some(1.0)).verdict, Verdict::LargeAftershock);
        assert_eq!(check(6.0, 3.0, Some(1.0)).verdict, Verdict::SmallAftershocks);
        assert_eq!(check(6.0, 3.0, Some(f64::NAN)).b, DEFAULT_B);
    }
}
