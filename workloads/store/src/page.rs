//! Paging of `query_window`: the caller holds a [`Cursor`] (a place in the newest-first order of
//! the window); here it becomes the day to read and where in that day to start.
//!
//! Any cursor is valid, not only those this crate returned: one after the window starts at its
//! top, one before it means the window is exhausted, and one naming an event that does not exist
//! continues just below where that event would be.

use crate::item::attr;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use quakestream_core::model::fmt_time;
use std::collections::HashMap;

/// A place in the newest-first order of a window: the next page holds the events strictly older
/// than (`time`, `unid`), events at the same origin time ordered by `unid`. An empty `unid` means
/// "every event older than `time`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub time: DateTime<Utc>,
    pub unid: String,
}

impl Cursor {
    /// The cursor that continues after this event.
    pub fn after(time: DateTime<Utc>, unid: &str) -> Cursor {
        Cursor {
            time,
            unid: unid.to_owned(),
        }
    }

    /// The cursor that continues with the days before `day`.
    pub fn before_day(day: NaiveDate) -> Cursor {
        Cursor {
            time: day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc(),
            unid: String::new(),
        }
    }
}

/// Where one `Query` on `by_day` starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Position {
    /// The UTC day being read (days are read newest first).
    pub day: NaiveDate,
    /// Continue after this item of the day (its time string and unid): the `ExclusiveStartKey`.
    pub after: Option<(String, String)>,
    /// The newest origin time to read on this day (inclusive).
    pub hi: DateTime<Utc>,
}

impl Position {
    /// Where a window `[lo, hi]` (both inclusive) continues after `cursor`; `None` when nothing
    /// of the window is left.
    pub fn start(lo: DateTime<Utc>, hi: DateTime<Utc>, cursor: Option<&Cursor>) -> Option<Position> {
        let top = Position {
            day: hi.date_naive(),
            after: None,
            hi,
        };
        let Some(c) = cursor else { return Some(top) };
        if c.time > hi {
            return Some(top);
        }
        if c.unid.is_empty() {
            let below = c.time - Duration::microseconds(1);
            return (below >= lo).then(|| Position {
                day: below.date_naive(),
                after: None,
                hi: below,
            });
        }
        (c.time >= lo).then(|| Position {
            day: c.time.date_naive(),
            after: Some((fmt_time(&c.time), c.unid.clone())),
            hi,
        })
    }

    /// The `ExclusiveStartKey` of a `by_day` query (table key + index key).
    pub fn start_key(&self) -> Option<HashMap<String, AttributeValue>> {
        let (t, u) = self.after.as_ref()?;
        let mut k = HashMap::new();
        k.insert(attr::UNID.to_owned(), AttributeValue::S(u.clone()));
        k.insert(
            attr::DAY.to_owned(),
            AttributeValue::S(self.day.format("%Y-%m-%d").to_string()),
        );
        k.insert(attr::TIME.to_owned(), AttributeValue::S(t.clone()));
        Some(k)
    }

    /// (time, unid) of a `LastEvaluatedKey`.
    pub fn after_of(k: &HashMap<String, AttributeValue>) -> Option<(String, String)> {
        match (k.get(attr::TIME), k.get(attr::UNID)) {
            (Some(AttributeValue::S(t)), Some(AttributeValue::S(u))) => Some((t.clone(), u.clone())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, d, h, 0, 0).unwrap()
    }

    #[test]
    fn any_cursor_maps_to_a_place_in_the_window_or_to_its_end() {
        let (lo, hi) = (t(1, 6), t(3, 12));
        let top = Position::start(lo, hi, None).unwrap();
        assert_eq!((top.day, top.after.clone(), top.hi), (hi.date_naive(), None, hi));
        // After the window: from the top. Before it: nothing left.
        assert_eq!(Position::start(lo, hi, Some(&Cursor::after(t(9, 0), "x"))), Some(top));
        assert_eq!(Position::start(lo, hi, Some(&Cursor::after(t(1, 5), "x"))), None);
        // An event's cursor continues after it, on its day.
        let p = Position::start(lo, hi, Some(&Cursor::after(t(2, 10), "us7000m0bk"))).unwrap();
        assert_eq!(p.day, t(2, 0).date_naive());
        assert_eq!(p.after, Some((fmt_time(&t(2, 10)), "us7000m0bk".to_owned())));
        // "Before this day" reads the previous day from its end; before the first day, nothing.
        let p = Position::start(lo, hi, Some(&Cursor::before_day(t(2, 0).date_naive()))).unwrap();
        assert_eq!((p.day, p.after), (t(1, 0).date_naive(), None));
        assert_eq!(p.hi, t(2, 0) - Duration::microseconds(1));
        assert_eq!(
            Position::start(lo, hi, Some(&Cursor::before_day(t(1, 0).date_naive()))),
            None
        );
        // "Older than a time" in the middle of a day reads that day below it.
        let p = Position::start(lo, hi, Some(&Cursor::after(t(2, 10), ""))).unwrap();
        assert_eq!(
            (p.day, p.after, p.hi),
            (t(2, 0).date_naive(), None, t(2, 10) - Duration::microseconds(1))
        );
    }
}
