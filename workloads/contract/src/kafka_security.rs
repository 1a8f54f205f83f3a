//! How a workload authenticates to Kafka and encrypts the connection: the protocol names, the
//! SASL mechanism, where the operator mounts the credentials Strimzi creates, and the variables
//! that carry them. `quakestream dev` and the tests use [`SecurityProtocol::Plaintext`] on
//! loopback; a cluster uses TLS with either a client certificate (mTLS) or SCRAM-SHA-512.

use std::fmt;
use std::str::FromStr;

use crate::{Env, env};

/// librdkafka's `security.protocol` values a workload accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum SecurityProtocol {
    /// No encryption, no authentication: loopback and tests only.
    #[default]
    Plaintext,
    /// TLS; with a client certificate and key, mutual TLS (Strimzi `authentication: tls`).
    Ssl,
    /// TLS and SASL SCRAM-SHA-512 (Strimzi `authentication: scram-sha-512`).
    SaslSsl,
}

impl SecurityProtocol {
    /// Every protocol, in the order `--help` lists them.
    pub const ALL: [SecurityProtocol; 3] = [Self::Plaintext, Self::Ssl, Self::SaslSsl];

    /// librdkafka's spelling (the value of `QS_KAFKA_SECURITY_PROTOCOL`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(self) -> bool {
        self != Self::Plaintext
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `security.protocol` value that is none of [`SecurityProtocol::ALL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownProtocol(pub String);

impl fmt::Display for UnknownProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown Kafka security protocol {:?} (expected plaintext, ssl or sasl_ssl)",
            self.0
        )
    }
}

impl std::error::Error for UnknownProtocol {}

impl FromStr for SecurityProtocol {
    type Err = UnknownProtocol;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownProtocol(s.to_owned()))
    }
}

/// The only SASL mechanism the workloads use (Strimzi's SCRAM users are SHA-512).
pub const SASL_MECHANISM: &str = "SCRAM-SHA-512";

/// Where the operator mounts the cluster CA certificate (Strimzi `<cluster>-cluster-ca-cert`).
pub const CA_DIR: &str = "/etc/quakestream/kafka-ca";
/// Where the operator mounts the workload's user secret (Strimzi `KafkaUser` secret).
pub const USER_DIR: &str = "/etc/quakestream/kafka-user";
/// Key of the CA certificate in Strimzi's cluster CA secret.
pub const CA_CERT_KEY: &str = "ca.crt";
/// Key of the client certificate in a TLS user's secret.
pub const USER_CERT_KEY: &str = "user.crt";
/// Key of the client key in a TLS user's secret.
pub const USER_KEY_KEY: &str = "user.key";
/// Key of the password in a SCRAM user's secret.
pub const USER_PASSWORD_KEY: &str = "password";

/// Every Kafka-security variable; each workload's `ENV` includes them all.
pub const ENV: [&str; 6] = [
    env::KAFKA_SECURITY_PROTOCOL,
    env::KAFKA_CA_FILE,
    env::KAFKA_CERT_FILE,
    env::KAFKA_KEY_FILE,
    env::KAFKA_SASL_USERNAME,
    env::KAFKA_SASL_PASSWORD_FILE,
];

/// How a workload in a cluster authenticates, as the operator renders it (files are the paths
/// where the secrets are mounted, see [`CA_DIR`] and [`USER_DIR`]).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum KafkaAuth {
    /// Plaintext, no authentication (a cluster whose listener has none).
    #[default]
    None,
    /// Mutual TLS with the user's certificate.
    Tls {
        /// The Kafka user (also the certificate's CN); not rendered, librdkafka does not need it.
        user: String,
    },
    /// TLS and SCRAM-SHA-512 with the user's password.
    ScramSha512 {
        /// The Kafka user name.
        user: String,
    },
}

impl KafkaAuth {
    /// The protocol this authentication runs over.
    pub fn protocol(&self) -> SecurityProtocol {
        match self {
            KafkaAuth::None => SecurityProtocol::Plaintext,
            KafkaAuth::Tls { .. } => SecurityProtocol::Ssl,
            KafkaAuth::ScramSha512 { .. } => SecurityProtocol::SaslSsl,
        }
    }

    /// Sets the variables (nothing at all for plaintext, the workloads' default).
    pub(crate) fn render(&self, e: &mut Env) {
        let file = |dir: &str, key: &str| format!("{dir}/{key}");
        match self {
            KafkaAuth::None => {}
            KafkaAuth::Tls { .. } => {
                e.set(env::KAFKA_SECURITY_PROTOCOL, self.protocol().as_str())
                    .set(env::KAFKA_CA_FILE, file(CA_DIR, CA_CERT_KEY))
                    .set(env::KAFKA_CERT_FILE, file(USER_DIR, USER_CERT_KEY))
                    .set(env::KAFKA_KEY_FILE, file(USER_DIR, USER_KEY_KEY));
            }
            KafkaAuth::ScramSha512 { user } => {
                e.set(env::KAFKA_SECURITY_PROTOCOL, self.protocol().as_str())
                    .set(env::KAFKA_CA_FILE, file(CA_DIR, CA_CERT_KEY))
                    .set(env::KAFKA_SASL_USERNAME, user)
                    .set(env::KAFKA_SASL_PASSWORD_FILE, file(USER_DIR, USER_PASSWORD_KEY));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_round_trip() {
        for p in SecurityProtocol::ALL {
            assert_eq!(p.as_str().parse::<SecurityProtocol>(), Ok(p));
        }
        assert_eq!("SASL_SSL".parse::<SecurityProtocol>(), Ok(SecurityProtocol::SaslSsl));
        let err = "sasl_plaintext".parse::<SecurityProtocol>().unwrap_err();
        assert!(err.to_string().contains("sasl_plaintext"), "{err}");
        assert!(!SecurityProtocol::default().is_tls());
    }

    #[test]
    fn renders_the_mounted_files() {
        let mut e = Env::new();
        KafkaAuth::None.render(&mut e);
        assert_eq!(e.names().count(), 0, "plaintext is the workloads' default");

        let mut e = Env::new();
        KafkaAuth::Tls {
            user: "demo-producer".into(),
        }
        .render(&mut e);
        assert_eq!(e.get(env::KAFKA_SECURITY_PROTOCOL), Some("ssl"));
        assert_eq!(e.get(env::KAFKA_CA_FILE), Some("/etc/quakestream/kafka-ca/ca.crt"));
        assert_eq!(
            e.get(env::KAFKA_CERT_FILE),
            Some("/etc/quakestream/kafka-user/user.crt")
        );
        assert_eq!(e.get(env::KAFKA_KEY_FILE), Some("/etc/quakestream/kafka-user/user.key"));
        assert_eq!(e.get(env::KAFKA_SASL_USERNAME), None);

        let mut e = Env::new();
        KafkaAuth::ScramSha512 {
            user: "demo-consumer".into(),
        }
        .render(&mut e);
        assert_eq!(e.get(env::KAFKA_SECURITY_PROTOCOL), Some("sasl_ssl"));
        assert_eq!(e.get(env::KAFKA_SASL_USERNAME), Some("demo-consumer"));
        assert_eq!(
            e.get(env::KAFKA_SASL_PASSWORD_FILE),
            Some("/etc/quakestream/kafka-user/password")
        );
        assert_eq!(e.get(env::KAFKA_CERT_FILE), None);
        assert!(e.names().all(|n| ENV.contains(&n)));
    }
}
