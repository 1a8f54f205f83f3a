//! Magnitude of completeness by maximum curvature (Wiemer & Wyss 2000): the magnitude bin with
//! the most events in the non-cumulative frequency–magnitude distribution, on 0.1 bins, plus the
//! +0.2 correction of Woessner & Wiemer (2005), because maximum curvature alone underestimates
//! Mc when the distribution bends gradually.

use super::NotEnough;
use std::collections::BTreeMap;

/// Magnitudes are binned to 0.1: bin k holds the magnitudes that round to k/10.
pub const BINS_PER_UNIT: f64 = 10.0;
pub const BIN_WIDTH: f64 = 1.0 / BINS_PER_UNIT;
/// The Woessner & Wiemer (2005) correction, in bins (+0.2).
pub const MAXC_CORRECTION_BINS: i64 = 2;
/// Fewer events than this give no Mc (nor anything that needs it).
pub const MC_MIN_EVENTS: usize = 50;

pub fn bin(mag: f64) -> i64 {
    (mag * BINS_PER_UNIT).round() as i64
}

/// The magnitude at the centre of bin `k`, as the nearest double to k/10.
pub fn bin_mag(k: i64) -> f64 {
    k as f64 / BINS_PER_UNIT
}

/// Non-cumulative counts per bin.
pub fn histogram(mags: &[f64]) -> BTreeMap<i64, usize> {
    let mut h = BTreeMap::new();
    for &m in mags {
        *h.entry(bin(m)).or_insert(0) += 1;
    }
    h
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mc {
    /// Bin of the completeness magnitude (maximum curvature + correction).
    pub bin: i64,
    /// Bin of the maximum of the distribution (the lowest one if several tie).
    pub mode_bin: i64,
}

impl Mc {
    pub fn value(&self) -> f64 {
        bin_mag(self.bin)
    }
}

pub fn maxc(mags: &[f64]) -> Result<Mc, NotEnough> {
    if mags.len() < MC_MIN_EVENTS {
        return Err(NotEnough {
            events: mags.len(),
            required: MC_MIN_EVENTS,
        });
    }
    let h = histogram(mags);
    let max = *h.values().max().expect("non-empty");
    let mode_bin = *h.iter().find(|(_, n)| **n == max).expect("max exists").0;
    Ok(Mc {
        bin: mode_bin + MAXC_CORRECTION_BINS,
        mode_bin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_round_to_the_nearest_tenth() {
        assert_eq!(bin(2.5), 25);
        assert_eq!(bin(2.549), 25);
        assert_eq!(bin(2.55), 26);
        assert_eq!(bin(-0.3), -3);
        assert_eq!(bin_mag(30), 3.0);
    }

    #[test]
    fn the_mode_plus_two_tenths_lowest_mode_on_ties() {
        // 10 at 2.5, 20 at 2.8 (and 20 at 3.1, a tie resolved downwards), then fewer.
        let mut mags = vec![2.5; 10];
        mags.extend(vec![2.8; 20]);
        mags.extend(vec![3.1; 20]);
        mags.extend(vec![3.5; 5]);
        let mc = maxc(&mags).unwrap();
        assert_eq!(mc.mode_bin, 28);
        assert_eq!(mc.bin, 30);
        assert_eq!(mc.value(), 3.0);
    }

    #[test]
    fn too_few_events_give_no_mc() {
        assert_eq!(
            maxc(&[3.0; MC_MIN_EVENTS - 1]),
            Err(NotEnough {
                events: MC_MIN_EVENTS - 1,
                required: MC_MIN_EVENTS
            })
        );
        assert!(maxc(&[3.0; MC_MIN_EVENTS]).is_ok());
    }
}
