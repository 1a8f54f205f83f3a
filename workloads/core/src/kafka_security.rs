//! Encryption and authentication of every Kafka client a workload creates: the flags
//! ([`KafkaSecurityArgs`]), their check at start-up (files that are missing, unreadable or empty
//! are refused before any client exists), and the librdkafka settings ([`KafkaSecurity::apply`]).
//!
//! | protocol | needs | librdkafka settings |
//! |---|---|---|
//! | `plaintext` (default) | nothing; no file flag may be given | `security.protocol=plaintext` |
//! | `ssl` | optional CA file; client certificate and key together (mTLS) or neither | `ssl.ca.location`, `ssl.certificate.location`, `ssl.key.location` |
//! | `sasl_ssl` | username and password file; optional CA file; no client certificate | `sasl.mechanism=SCRAM-SHA-512`, `sasl.username`, `sasl.password` |

use std::fmt;
use std::path::{Path, PathBuf};

use clap::Args;
use quakestream_contract::kafka_security::SASL_MECHANISM;
use quakestream_contract::{SecurityProtocol, env};
use rdkafka::ClientConfig;

/// Kafka security flags, shared by every workload (each reads the variable named beside it).
#[derive(Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct KafkaSecurityArgs {
    /// Kafka security.protocol: plaintext, ssl (TLS, mutual with a client certificate) or
    /// sasl_ssl (TLS and SCRAM-SHA-512).
    #[arg(long = "kafka-security-protocol", env = env::KAFKA_SECURITY_PROTOCOL, default_value = "plaintext",
        value_parser = parse_protocol)]
    pub protocol: SecurityProtocol,
    /// PEM file of the CA that signed the brokers' certificates (default: the system's CAs).
    #[arg(long = "kafka-ca-file", env = env::KAFKA_CA_FILE)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (mutual TLS; needs --kafka-key-file).
    #[arg(long = "kafka-cert-file", env = env::KAFKA_CERT_FILE)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long = "kafka-key-file", env = env::KAFKA_KEY_FILE)]
    pub key_file: Option<PathBuf>,
    /// SCRAM-SHA-512 user name (sasl_ssl).
    #[arg(long = "kafka-sasl-username", env = env::KAFKA_SASL_USERNAME)]
    pub sasl_username: Option<String>,
    /// File holding the SCRAM-SHA-512 password (read once at start-up; a trailing newline is dropped).
    #[arg(long = "kafka-sasl-password-file", env = env::KAFKA_SASL_PASSWORD_FILE)]
    pub sasl_password_file: Option<PathBuf>,
}

fn parse_protocol(s: &str) -> Result<SecurityProtocol, String> {
    s.parse()
        .map_err(|e: quakestream_contract::kafka_security::UnknownProtocol| e.to_string())
}

/// Why the Kafka security flags were refused.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSecurityError {
    /// A TLS or SASL flag with `plaintext`, or a SASL flag with `ssl`.
    #[error("{flag} needs --kafka-security-protocol {needs} (it is {protocol})")]
    NotForProtocol {
        flag: &'static str,
        needs: &'static str,
        protocol: SecurityProtocol,
    },
    /// A flag the protocol cannot do without.
    #[error("--kafka-security-protocol {protocol} needs {flag}")]
    Missing {
        flag: &'static str,
        protocol: SecurityProtocol,
    },
    /// A file that cannot be read.
    #[error("{flag} {}: {source}", path.display())]
    Unreadable {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file with nothing in it.
    #[error("{flag} {}: the file is empty", path.display())]
    Empty { flag: &'static str, path: PathBuf },
}

impl KafkaSecurityError {
    /// Metric and log label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotForProtocol { .. } => "flag_not_for_protocol",
            Self::Missing { .. } => "flag_missing",
            Self::Unreadable { .. } => "file_unreadable",
            Self::Empty { .. } => "file_empty",
        }
    }
}

const CA_FLAG: &str = "--kafka-ca-file";
const CERT_FLAG: &str = "--kafka-cert-file";
const KEY_FLAG: &str = "--kafka-key-file";
const USER_FLAG: &str = "--kafka-sasl-username";
const PASSWORD_FLAG: &str = "--kafka-sasl-password-file";

/// Checked Kafka security: the librdkafka settings every client of the workload gets. The SCRAM
/// password is held in memory (librdkafka takes no password file) and never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaSecurity {
    protocol: SecurityProtocol,
    settings: Vec<(&'static str, String)>,
}

impl fmt::Debug for KafkaSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<(&str, &str)> = self
            .settings
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == "sasl.password" {
                        "<redacted>"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("KafkaSecurity").field("settings", &shown).finish()
    }
}

impl KafkaSecurity {
    /// No encryption, no authentication: `quakestream dev` and the tests, on loopback.
    pub fn plaintext() -> Self {
        Self::default()
    }

    /// Checks the flags and reads the files they name.
    pub fn from_args(a: &KafkaSecurityArgs) -> Result<Self, KafkaSecurityError> {
        let protocol = a.protocol;
        let mut settings = vec![("security.protocol", protocol.as_str().to_owned())];
        let not_for = |flag, needs| KafkaSecurityError::NotForProtocol { flag, needs, protocol };
        let missing = |flag| KafkaSecurityError::Missing { flag, protocol };
        match protocol {
            SecurityProtocol::Plaintext => {
                let given = [
                    (CA_FLAG, a.ca_file.is_some()),
                    (CERT_FLAG, a.cert_file.is_some()),
                    (KEY_FLAG, a.key_file.is_some()),
                    (USER_FLAG, a.sasl_username.is_some()),
                    (PASSWORD_FLAG, a.sasl_password_file.is_some()),
                ];
                if let Some((flag, _)) = given.into_iter().find(|(_, set)| *set) {
                    return Err(not_for(flag, "ssl or sasl_ssl"));
                }
            }
            SecurityProtocol::Ssl => {
                if a.sasl_username.is_some() {
                    return Err(not_for(USER_FLAG, "sasl_ssl"));
                }
                if a.sasl_password_file.is_some() {
                    return Err(not_for(PASSWORD_FLAG, "sasl_ssl"));
                }
                push_file(&mut settings, "ssl.ca.location", CA_FLAG, a.ca_file.as_deref())?;
                match (&a.cert_file, &a.key_file) {
                    (Some(_), None) => return Err(missing(KEY_FLAG)),
                    (None, Some(_)) => return Err(missing(CERT_FLAG)),
                    _ => {}
                }
                push_file(
                    &mut settings,
                    "ssl.certificate.location",
                    CERT_FLAG,
                    a.cert_file.as_deref(),
                )?;
                push_file(&mut settings, "ssl.key.location", KEY_FLAG, a.key_file.as_deref())?;
            }
            SecurityProtocol::SaslSsl => {
                if a.cert_file.is_some() {
                    return Err(not_for(CERT_FLAG, "ssl"));
                }
                if a.key_file.is_some() {
                    return Err(not_for(KEY_FLAG, "ssl"));
                }
                push_file(&mut settings, "ssl.ca.location", CA_FLAG, a.ca_file.as_deref())?;
                let user = a.sasl_username.as_deref().filter(|u| !u.is_empty());
                let user = user.ok_or_else(|| missing(USER_FLAG))?;
                let file = a.sasl_password_file.as_deref().ok_or_else(|| missing(PASSWORD_FLAG))?;
                let password = read_password(file)?;
                settings.push(("sasl.mechanism", SASL_MECHANISM.to_owned()));
                settings.push(("sasl.username", user.to_owned()));
                settings.push(("sasl.password", password));
            }
        }
        Ok(Self { protocol, settings })
    }

    /// The protocol.
    pub fn protocol(&self) -> SecurityProtocol {
        self.protocol
    }

    /// The librdkafka settings, in the order they are applied (the password included).
    pub fn settings(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.settings.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// Sets them on a client configuration.
    pub fn apply<'c>(&self, c: &'c mut ClientConfig) -> &'c mut ClientConfig {
        for (k, v) in self.settings() {
            c.set(k, v);
        }
        c
    }
}

/// Checks that `path` can be read and is not empty, and sets `key` to it (librdkafka reads the
/// file itself when the client is created).
fn push_file(
    settings: &mut Vec<(&'static str, String)>,
    key: &'static str,
    flag: &'static str,
    path: Option<&Path>,
) -> Result<(), KafkaSecurityError> {
    let Some(path) = path else { return Ok(()) };
    let bytes = read(flag, path)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(KafkaSecurityError::Empty {
            flag,
            path: path.to_owned(),
        });
    }
    settings.push((key, path.display().to_string()));
    Ok(())
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, KafkaSecurityError> {
    std::fs::read(path).map_err(|source| KafkaSecurityError::Unreadable {
        flag,
        path: path.to_owned(),
        source,
    })
}

fn read_password(path: &Path) -> Result<String, KafkaSecurityError> {
    let bytes = read(PASSWORD_FLAG, path)?;
    let text = String::from_utf8(bytes).map_err(|e| KafkaSecurityError::Unreadable {
        flag: PASSWORD_FLAG,
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    let password = text.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(KafkaSecurityError::Empty {
            flag: PASSWORD_FLAG,
            path: path.to_owned(),
        });
    }
    Ok(password.to_owned())
}

#[cfg(test)]
#[path = "kafka_security_tests.rs"]
mod tests;
