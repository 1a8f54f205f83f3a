//! The environment a workload is configured with, and the settings several workloads share.

use std::collections::BTreeMap;

use crate::env;
use crate::kafka_security::KafkaAuth;

/// Environment variables for one workload, sorted by name (a ConfigMap's `data`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env(BTreeMap<&'static str, String>);

impl Env {
    /// An empty environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set a variable (a later value replaces an earlier one).
    pub fn set(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.0.insert(name, value.into());
        self
    }

    /// Set a variable when there is a value.
    pub fn set_some(&mut self, name: &'static str, value: Option<impl Into<String>>) -> &mut Self {
        if let Some(v) = value {
            self.set(name, v);
        }
        self
    }

    /// The value of a variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Variable names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.keys().copied()
    }

    /// As owned strings (a ConfigMap's `data`).
    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

/// How a workload reaches Kafka and which topic carries the wire records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kafka {
    /// `host:port,...`.
    pub bootstrap_servers: String,
    /// The topic of wire records.
    pub topic: String,
    /// Encryption and authentication (the workload's own Kafka user).
    pub auth: KafkaAuth,
}

impl Kafka {
    fn render(&self, e: &mut Env) {
        e.set(env::KAFKA_BOOTSTRAP_SERVERS, &self.bootstrap_servers);
        e.set(env::TOPIC, &self.topic);
        self.auth.render(e);
    }
}

/// The DynamoDB table (consumer and frontend).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    /// Table name.
    pub table: String,
    /// AWS region.
    pub region: String,
    /// A DynamoDB-API endpoint instead of AWS (with none, credentials come from the AWS chain;
    /// with one and no credentials, the workloads use placeholders a local emulator accepts).
    pub endpoint: Option<String>,
}

impl Store {
    fn render(&self, e: &mut Env) {
        e.set(env::TABLE, &self.table);
        e.set(env::AWS_REGION, &self.region);
        e.set_some(env::DYNAMODB_ENDPOINT, self.endpoint.as_deref());
    }
}

/// What every workload process has: its HTTP port (listening on all interfaces, as in a pod)
/// and its log filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ops {
    /// The workload's port (its module's `PORT`).
    pub port: u16,
    /// Log filter.
    pub log: String,
}

impl Ops {
    fn render(&self, e: &mut Env) {
        e.set(env::LISTEN, crate::pod_listen(self.port));
        e.set(env::LOG, &self.log);
    }
}

/// Rendering of the shared parts, for the workload modules.
pub(crate) fn shared(kafka: &Kafka, ops: &Ops, store: Option<&Store>) -> Env {
    let mut e = Env::new();
    kafka.render(&mut e);
    ops.render(&mut e);
    if let Some(s) = store {
        s.render(&mut e);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_sets_and_lists_sorted() {
        let mut e = Env::new();
        e.set(env::TOPIC, "a")
            .set(env::LOG, "info")
            .set_some(env::TABLE, None::<String>);
        e.set(env::TOPIC, "b");
        assert_eq!(e.get(env::TOPIC), Some("b"));
        assert_eq!(e.names().collect::<Vec<_>>(), [env::LOG, env::TOPIC]);
        let m = e.into_map();
        assert_eq!(m["QS_TOPIC"], "b");
        assert!(!m.contains_key("QS_TABLE"));
    }

    #[test]
    fn shared_parts() {
        let kafka = Kafka {
            bootstrap_servers: "k:9092".into(),
            topic: "t".into(),
            auth: KafkaAuth::None,
        };
        let ops = Ops {
            port: 9091,
            log: "debug".into(),
        };
        let store = Store {
            table: "q".into(),
            region: "eu-west-1".into(),
            endpoint: Some("http://dynoxide:8000".into()),
        };
        let e = shared(&kafka, &ops, Some(&store));
        assert_eq!(e.get(env::LISTEN), Some("0.0.0.0:9091"));
        assert_eq!(e.get(env::DYNAMODB_ENDPOINT), Some("http://dynoxide:8000"));
        let e = shared(&kafka, &ops, None);
        assert_eq!(e.names().count(), 4);
        let tls = Kafka {
            auth: KafkaAuth::Tls { user: "u".into() },
            ..kafka
        };
        let e = shared(&tls, &ops, None);
        assert_eq!(e.get(env::KAFKA_SECURITY_PROTOCOL), Some("ssl"));
        assert_eq!(e.names().count(), 8);
    }
}
