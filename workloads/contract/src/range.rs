//! Inclusive integer bounds shared by a workload flag (clap's `value_parser!(u32).range(..)`),
//! the CRD (`minimum`/`maximum`) and the operator's validation.

use std::fmt;

/// Inclusive bounds of an integer setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntRange {
    /// Smallest allowed value.
    pub min: i64,
    /// Largest allowed value.
    pub max: i64,
}

impl IntRange {
    /// Bounds (usable in `const`s).
    pub const fn new(min: i64, max: i64) -> Self {
        assert!(min <= max, "an empty range");
        Self { min, max }
    }

    /// Whether `v` is within the bounds.
    pub fn contains(&self, v: impl Into<i64>) -> bool {
        let v = v.into();
        self.min <= v && v <= self.max
    }

    /// For clap: `value_parser!(u32).range(RANGE.bounds())`.
    pub fn bounds(&self) -> std::ops::RangeInclusive<i64> {
        self.min..=self.max
    }

    /// For clap's `value_parser!(u64)`, whose ranges are unsigned (the bounds must not be negative).
    pub fn bounds_u64(&self) -> std::ops::RangeInclusive<u64> {
        let unsigned = |v: i64| u64::try_from(v).expect("an unsigned setting has non-negative bounds");
        unsigned(self.min)..=unsigned(self.max)
    }
}

impl fmt::Display for IntRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "between {} and {}", self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusive_bounds() {
        const R: IntRange = IntRange::new(1, 20_000);
        assert!(R.contains(1));
        assert!(R.contains(20_000u32));
        assert!(!R.contains(0));
        assert!(!R.contains(20_001));
        assert_eq!(R.bounds(), 1..=20_000);
        assert_eq!(R.bounds_u64(), 1..=20_000);
        assert_eq!(R.to_string(), "between 1 and 20000");
    }
}
