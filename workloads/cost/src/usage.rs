//! The usage profile of an estimate (`cost/usage.yaml`): traffic the Terraform cannot state, and
//! the modelling assumptions, each explained in that file and in docs/cost.md.

use crate::error::{CostError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The profile shipped with this build.
pub const BUNDLED: &str = include_str!("../../../cost/usage.yaml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    pub events_per_day: f64,
    pub page_views_per_day: f64,
    pub open_browsers: f64,
    pub log_gb_per_month: f64,
    pub write_units_per_event: f64,
    pub read_units_per_page_view: f64,
    pub read_units_per_replica_start: f64,
    pub replica_starts_per_month: f64,
    pub records_per_item: f64,
    pub item_kb: f64,
    pub stored_days: f64,
    pub page_view_kb: f64,
    pub requests_per_page_view: f64,
    pub sse_heartbeat_seconds: f64,
    pub sse_heartbeat_bytes: f64,
    pub sse_event_bytes: f64,
    pub stream_reconnects_per_browser_hour: f64,
    pub header_bytes_per_request: f64,
    pub kafka_record_bytes: f64,
    pub nat_gb_per_month: f64,
    pub other_inter_az_gb_per_month: f64,
    pub login_users_per_month: f64,
    pub frontend_cpu_request_vcpu: f64,
}

impl Usage {
    pub fn bundled() -> Usage {
        Usage::parse("cost/usage.yaml", BUNDLED, None).expect("the bundled usage profile is valid")
    }

    /// `base` (a full profile) with the keys of `overrides` (a partial one) replaced.
    pub fn parse(what: &str, base: &str, overrides: Option<&str>) -> Result<Usage> {
        let yaml_err = |message: String| CostError::Yaml {
            what: what.to_owned(),
            message,
        };
        let mut v: serde_json::Value = serde_saphyr::from_str(base).map_err(|e| yaml_err(e.to_string()))?;
        if let Some(o) = overrides {
            let o: serde_json::Value = serde_saphyr::from_str(o).map_err(|e| yaml_err(e.to_string()))?;
            let (Some(dst), Some(src)) = (v.as_object_mut(), o.as_object()) else {
                return Err(yaml_err("expected a mapping of keys to numbers".into()));
            };
            for (k, x) in src {
                dst.insert(k.clone(), x.clone());
            }
        }
        let u: Usage = serde_json::from_value(v).map_err(|e| yaml_err(e.to_string()))?;
        u.validate()?;
        Ok(u)
    }

    pub fn from_file(path: &Path) -> Result<Usage> {
        let text = std::fs::read_to_string(path).map_err(|e| CostError::Read {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Usage::parse(&path.display().to_string(), BUNDLED, Some(&text))
    }

    /// Every figure is a finite, non-negative number; divisors are positive.
    pub fn validate(&self) -> Result<()> {
        let v = serde_json::to_value(self).expect("plain numbers");
        for (k, x) in v.as_object().expect("a struct") {
            let n = x.as_f64().unwrap_or(f64::NAN);
            if !(n.is_finite() && n >= 0.0) {
                return Err(CostError::Usage(format!("{k} = {x}: must be a non-negative number")));
            }
        }
        for (k, n) in [
            ("records_per_item", self.records_per_item),
            ("sse_heartbeat_seconds", self.sse_heartbeat_seconds),
        ] {
            if n <= 0.0 {
                return Err(CostError::Usage(format!("{k} must be positive")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_their_keys() {
        let u = Usage::parse("t", BUNDLED, Some("page_views_per_day: 1e6\n")).unwrap();
        assert_eq!(u.page_views_per_day, 1e6);
        assert_eq!(u.events_per_day, Usage::bundled().events_per_day);
    }

    #[test]
    fn bad_profiles_are_rejected_with_the_key() {
        let e = Usage::parse("t", BUNDLED, Some("open_browsers: -3\n")).unwrap_err();
        assert!(e.to_string().contains("open_browsers"), "{e}");
        let e = Usage::parse("t", BUNDLED, Some("open_browser: 3\n")).unwrap_err();
        assert_eq!(e.code(), "bad_yaml");
        let e = Usage::parse("t", BUNDLED, Some("records_per_item: 0\n")).unwrap_err();
        assert!(e.to_string().contains("positive"), "{e}");
        assert!(Usage::parse("t", BUNDLED, Some("- 1\n")).is_err());
    }
}
