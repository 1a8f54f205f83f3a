//! The checked-in price tables (`cost/prices/<region>.yaml`), one per region. They are compiled
//! into the binary (so `quakestream cost` works anywhere) and can be replaced by a directory of
//! the same files (`--prices DIR`). No price lives anywhere else.

use crate::error::{CostError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The tables shipped with this build: (file name, contents).
pub const BUNDLED: [(&str, &str); 2] = [
    ("eu-west-1.yaml", include_str!("../../../cost/prices/eu-west-1.yaml")),
    (
        "eu-central-1.yaml",
        include_str!("../../../cost/prices/eu-central-1.yaml"),
    ),
];

/// One price: `usd` per `per`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub usd: f64,
    pub per: String,
    pub what: String,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub usd_per_hour: f64,
    pub vcpu: f64,
    pub memory_gib: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instances {
    pub source: String,
    pub types: BTreeMap<String, Instance>,
}

/// The prices of one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    pub region: String,
    pub region_name: String,
    pub currency: String,
    pub read_on: String,
    pub how_read: String,
    pub offer_index: String,
    pub prices: BTreeMap<String, Price>,
    pub instances: Instances,
}

impl PriceTable {
    pub fn parse(what: &str, text: &str) -> Result<PriceTable> {
        let t: PriceTable = serde_saphyr::from_str(text).map_err(|e| CostError::Yaml {
            what: what.to_owned(),
            message: e.to_string(),
        })?;
        for (key, p) in &t.prices {
            if !(p.usd.is_finite() && p.usd >= 0.0) {
                return Err(CostError::Yaml {
                    what: what.to_owned(),
                    message: format!("price {key}: {} is not a non-negative amount", p.usd),
                });
            }
        }
        Ok(t)
    }

    /// The price of `key`, in USD per its unit.
    pub fn usd(&self, key: &str) -> Result<f64> {
        self.get(key).map(|p| p.usd)
    }

    pub fn get(&self, key: &str) -> Result<&Price> {
        self.prices.get(key).ok_or_else(|| CostError::MissingPrice {
            region: self.region.clone(),
            key: key.to_owned(),
        })
    }

    pub fn instance(&self, instance_type: &str) -> Result<&Instance> {
        self.instances
            .types
            .get(instance_type)
            .ok_or_else(|| CostError::MissingInstance {
                region: self.region.clone(),
                instance_type: instance_type.to_owned(),
            })
    }
}

/// Price tables by region.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    pub tables: BTreeMap<String, PriceTable>,
}

impl PriceBook {
    /// The tables compiled into this binary.
    pub fn bundled() -> Result<PriceBook> {
        let mut book = PriceBook::default();
        for (name, text) in BUNDLED {
            book.add(name, text)?;
        }
        Ok(book)
    }

    /// Every `<region>.yaml` in `dir`.
    pub fn from_dir(dir: &Path) -> Result<PriceBook> {
        let read_err = |e: std::io::Error| CostError::Read {
            path: dir.to_owned(),
            message: e.to_string(),
        };
        let mut book = PriceBook::default();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .collect::<std::io::Result<_>>()
            .map_err(read_err)?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "yaml") {
                let text = std::fs::read_to_string(&path).map_err(|err| CostError::Read {
                    path: path.clone(),
                    message: err.to_string(),
                })?;
                book.add(&path.display().to_string(), &text)?;
            }
        }
        Ok(book)
    }

    fn add(&mut self, name: &str, text: &str) -> Result<()> {
        let t = PriceTable::parse(name, text)?;
        let expected = format!("{}.yaml", t.region);
        if !name.ends_with(&expected) {
            return Err(CostError::Yaml {
                what: name.to_owned(),
                message: format!("holds region {} but is not named {expected}", t.region),
            });
        }
        self.tables.insert(t.region.clone(), t);
        Ok(())
    }

    pub fn region(&self, region: &str) -> Result<&PriceTable> {
        self.tables.get(region).ok_or_else(|| CostError::UnsupportedRegion {
            region: region.to_owned(),
            supported: self.tables.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_tables_parse_and_name_their_source_and_date() {
        let book = PriceBook::bundled().unwrap();
        assert!(book.tables.contains_key("eu-west-1") && book.tables.contains_key("eu-central-1"));
        for t in book.tables.values() {
            assert_eq!(t.currency, "USD");
            assert!(t.read_on.len() == 10 && t.read_on.starts_with("20"), "{}", t.read_on);
            for (k, p) in &t.prices {
                assert!(p.source.starts_with("https://aws.amazon.com/"), "{k}: {}", p.source);
            }
            assert!(t.instance("m6i.large").unwrap().vcpu == 2.0);
        }
    }

    #[test]
    fn every_region_prices_the_same_things() {
        let book = PriceBook::bundled().unwrap();
        let keys: Vec<Vec<&String>> = book.tables.values().map(|t| t.prices.keys().collect()).collect();
        assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    }

    #[test]
    fn unknown_region_and_key_are_typed_errors() {
        let book = PriceBook::bundled().unwrap();
        let e = book.region("mars-north-1").unwrap_err();
        assert_eq!(e.code(), "unsupported_region");
        assert!(e.to_string().contains("eu-west-1"), "{e}");
        let t = book.region("eu-west-1").unwrap();
        assert_eq!(t.usd("no_such_thing").unwrap_err().code(), "missing_price");
        assert_eq!(t.instance("x9.huge").unwrap_err().code(), "missing_instance");
    }

    #[test]
    fn negative_prices_and_unknown_fields_are_rejected() {
        let text = BUNDLED[0].1.replace("usd: 0.10\n", "usd: -0.10\n");
        assert!(
            PriceTable::parse("t", &text)
                .unwrap_err()
                .to_string()
                .contains("non-negative")
        );
        let text = BUNDLED[0].1.replace("currency: USD\n", "currency: USD\ncurency: EUR\n");
        assert_eq!(PriceTable::parse("t", &text).unwrap_err().code(), "bad_yaml");
    }
}
