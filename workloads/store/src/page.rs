//! Opaque page tokens for `query_window`: hex of a small JSON position (URL-safe, no padding).

use crate::StoreError;
use crate::item::attr;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::NaiveDate;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Position {
    /// The UTC day being read (days are read newest first).
    pub day: NaiveDate,
    /// Continue after this item of the day: (origin time string, unid).
    pub after: Option<(String, String)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Wire {
    d: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    t: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    u: Option<String>,
}

impl Position {
    pub fn encode(&self) -> String {
        let (t, u) = match &self.after {
            Some((t, u)) => (Some(t.clone()), Some(u.clone())),
            None => (None, None),
        };
        let json = serde_json::to_vec(&Wire {
            d: self.day.format("%Y-%m-%d").to_string(),
            t,
            u,
        })
        .expect("json");
        json.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn decode(token: &str) -> Result<Position, StoreError> {
        if token.len() > 2048 || !token.len().is_multiple_of(2) {
            return Err(StoreError::BadPageToken);
        }
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(token.get(i..i + 2).ok_or(StoreError::BadPageToken)?, 16)
                    .map_err(|_| StoreError::BadPageToken)
            })
            .collect::<Result<Vec<u8>, _>>()?;
        let w: Wire = serde_json::from_slice(&bytes).map_err(|_| StoreError::BadPageToken)?;
        let day = NaiveDate::parse_from_str(&w.d, "%Y-%m-%d").map_err(|_| StoreError::BadPageToken)?;
        let after = match (w.t, w.u) {
            (Some(t), Some(u)) => Some((t, u)),
            (None, None) => None,
            _ => return Err(StoreError::BadPageToken),
        };
        Ok(Position { day, after })
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

    #[test]
    fn tokens_round_trip_and_garbage_is_rejected() {
        let p = Position {
            day: NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
            after: Some(("2024-05-01T10:00:00.000000Z".into(), "us7000m0bk".into())),
        };
        assert_eq!(Position::decode(&p.encode()).unwrap(), p);
        let q = Position {
            day: p.day,
            after: None,
        };
        assert_eq!(Position::decode(&q.encode()).unwrap(), q);
        for bad in ["", "zz", "abc", "7b7d", &"0".repeat(5000)] {
            assert!(matches!(Position::decode(bad), Err(StoreError::BadPageToken)), "{bad}");
        }
    }
}
