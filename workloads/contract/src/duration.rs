//! The duration syntax every workload flag and every `QuakeStream` field uses.
//!
//! A duration is one or more `<digits><unit>` groups, largest unit first or not, with the units
//! `ms`, `s`, `m`, `h` and `d` (a day is 24 hours): `250ms`, `90s`, `15m`, `24h`, `7d`, `1h30m`.
//! No spaces, no signs, no fractions, no bare numbers. [`PATTERN`] is the same rule as a regular
//! expression (the CRD's `pattern`), [`parse`] reads it, [`format`] writes the canonical form (the
//! largest units first, zero groups left out: `90m` → `1h30m`, `24h` → `1d`), and
//! [`DurationRange`] holds a setting's bounds.

use std::fmt;
use std::time::Duration;

/// The syntax as a regular expression (ECMA-262 and RE2 alike), for the CRD's `pattern`.
pub const PATTERN: &str = r"^([0-9]+(ms|s|m|h|d))+$";

/// Longest duration text accepted (a guard for the parser and the CRD's `maxLength`).
pub const MAX_LEN: usize = 32;

const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Why a duration was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurationError {
    /// Not of the form `<digits><unit>...`.
    Syntax(String),
    /// Outside the setting's bounds.
    OutOfRange {
        /// What was given.
        value: String,
        /// The bounds.
        range: DurationRange,
    },
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Syntax(s) => write!(
                f,
                "invalid duration {s:?}: expected digits followed by ms, s, m, h or d, e.g. 90s, 15m, 24h, 7d, 1h30m"
            ),
            DurationError::OutOfRange { value, range } => write!(f, "duration {value} is out of range: {range}"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Parse a duration in the contract's syntax.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError::Syntax(text.to_owned());
    if text.is_empty() || text.len() > MAX_LEN {
        return Err(err());
    }
    let mut rest = text;
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        // "ms" before "m": the longest unit name that matches.
        let (unit, factor) = [
            ("ms", 1),
            ("s", 1_000),
            ("m", 60_000),
            ("h", 3_600_000),
            ("d", 86_400_000),
        ]
        .into_iter()
        .find(|(u, _)| rest.starts_with(u))
        .ok_or_else(err)?;
        rest = &rest[unit.len()..];
        total_ms = n
            .checked_mul(factor)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(err)?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// The canonical text of a duration (whole milliseconds; anything smaller is dropped).
pub fn format(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, factor) in UNITS {
        let n = ms / factor;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
            ms -= n * factor;
        }
    }
    out
}

/// Inclusive bounds of a duration setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationRange {
    /// Shortest allowed.
    pub min: Duration,
    /// Longest allowed.
    pub max: Duration,
}

impl DurationRange {
    /// Bounds from seconds (usable in `const`s).
    pub const fn secs(min: u64, max: u64) -> Self {
        Self {
            min: Duration::from_secs(min),
            max: Duration::from_secs(max),
        }
    }

    /// Bounds from milliseconds (usable in `const`s).
    pub const fn millis(min: u64, max: u64) -> Self {
        Self {
            min: Duration::from_millis(min),
            max: Duration::from_millis(max),
        }
    }

    /// Whether `d` is within the bounds.
    pub fn contains(&self, d: Duration) -> bool {
        self.min <= d && d <= self.max
    }

    /// Parse `text` and check it against the bounds.
    pub fn parse(&self, text: &str) -> Result<Duration, DurationError> {
        let d = parse(text)?;
        if self.contains(d) {
            Ok(d)
        } else {
            Err(DurationError::OutOfRange {
                value: text.to_owned(),
                range: *self,
            })
        }
    }

    /// A clap `value_parser` for this setting: `value_parser = RANGE.parser()`.
    pub fn parser(self) -> impl Fn(&str) -> Result<Duration, DurationError> + Clone + Send + Sync + 'static {
        move |text: &str| self.parse(text)
    }
}

impl fmt::Display for DurationRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "between {} and {}", format(self.min), format(self.max))
    }
}

/// A clap `value_parser` for a duration with no bounds beyond the syntax.
pub fn parser(text: &str) -> Result<Duration, DurationError> {
    parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let cases = [
            ("250ms", 250),
            ("90s", 90_000),
            ("15m", 900_000),
            ("24h", 86_400_000),
            ("7d", 604_800_000),
            ("1h30m", 5_400_000),
            ("0s", 0),
            ("1d12h", 129_600_000),
            ("30m1h", 5_400_000),
        ];
        for (text, ms) in cases {
            assert_eq!(parse(text), Ok(Duration::from_millis(ms)), "{text}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "h",
            "24",
            "1w",
            "-1h",
            "1.5h",
            "1 h",
            "1h ",
            "+1h",
            "1H",
            "1hh",
            "ms",
            "1m s",
            "99999999999999999999d",
            "1000000000000000d",
            "123456789012345678901234567890123s",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn format_is_canonical_and_round_trips() {
        assert_eq!(format(Duration::from_secs(24 * 3600)), "1d");
        assert_eq!(format(Duration::from_secs(90 * 60)), "1h30m");
        assert_eq!(format(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format(Duration::ZERO), "0s");
        for text in ["250ms", "90s", "15m", "6h", "7d", "1h30m", "2d3h4m5s6ms"] {
            let d = parse(text).unwrap();
            assert_eq!(parse(&format(d)).unwrap(), d, "{text}");
        }
        assert_eq!(format(parse("90m").unwrap()), "1h30m");
    }

    #[test]
    fn ranges_name_their_bounds() {
        let r = DurationRange::secs(60, 86_400);
        assert!(r.contains(Duration::from_secs(60)));
        assert!(r.contains(Duration::from_secs(86_400)));
        assert!(!r.contains(Duration::from_secs(59)));
        let e = r.parse("2d").unwrap_err();
        assert_eq!(e.to_string(), "duration 2d is out of range: between 1m and 1d");
        assert_eq!(r.parse("1h"), Ok(Duration::from_secs(3600)));
        assert!(matches!(r.parse("1x"), Err(DurationError::Syntax(_))));
        let p = r.parser();
        assert_eq!(p("90s"), Ok(Duration::from_secs(90)));
    }

    /// The regular expression (what the API server checks) and the parser (what the workloads
    /// and the operator check) accept the same strings, up to the length guard.
    #[test]
    fn pattern_and_parser_agree_on_tables() {
        let re = regex::Regex::new(PATTERN).unwrap();
        for text in [
            "1s", "1h30m", "250ms", "0s", "7d", "", "1", "s", "1w", "1.5h", "-1s", "1ms1", "1m1", "01h", "1hms",
        ] {
            assert_eq!(re.is_match(text), parse(text).is_ok(), "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn pattern_and_parser_agree(text in "[0-9smhd.x -]{0,10}") {
            let re = regex::Regex::new(PATTERN).unwrap();
            proptest::prop_assert_eq!(re.is_match(&text), parse(&text).is_ok(), "{:?}", text);
        }
    }
}
