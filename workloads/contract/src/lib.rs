//! The contract between the QuakeStream operator and the workloads it runs.
//!
//! The operator writes a ConfigMap per workload; the workload reads it through its command-line
//! flags (every flag has an environment variable). Both sides take what they must agree on from
//! here, so nothing is written twice:
//!
//! - [`env`]: the name of every environment variable a workload reads;
//! - [`names`]: default topic, dead-letter topic, consumer group and table names, and how they
//!   derive from the name of a `QuakeStream` resource;
//! - [`limits`]: byte limits of inputs, dead letters and Kafka records (producer, topics, consumer);
//! - [`duration`]: the one duration syntax (`90s`, `15m`, `24h`, `7d`, `1h30m`), its parser and
//!   its canonical form, and [`duration::DurationRange`] for bounds;
//! - [`range::IntRange`]: integer bounds (the workloads' clap `value_parser`s and the CRD's
//!   `minimum`/`maximum` use the same constants);
//! - [`allocator`]: the allocators a process can run on (`QS_ALLOCATOR`);
//! - [`dev`]: defaults and bounds of `quakestream dev` (the one-machine mode);
//! - [`kafka_security`]: `security.protocol` values, the SCRAM mechanism, where the operator
//!   mounts the secrets Strimzi creates, and [`KafkaAuth`], rendered for every workload;
//! - one module per workload ([`producer`], [`consumer`], [`frontend`], [`analytics`]) with its port, defaults,
//!   ranges, the list of variables its CLI reads ([`producer::ENV`]), the ones the operator must
//!   always write ([`producer::REQUIRED`]), and a typed `Config` that renders itself as those
//!   variables ([`producer::Config::to_env`]).
//!
//! The crate has no dependencies, so the operator never links Kafka, AWS or HTTP clients and the
//! workloads never link Kubernetes types.
//!
//! # Adding a setting
//!
//! A new flag `--foo` of `quakestream consumer`, say, that the operator should configure:
//!
//! 1. name its variable in [`env`] (`pub const FOO: &str = "QS_FOO";`) and list it in
//!    [`env::ALL`];
//! 2. in [`consumer`]: its default (`DEFAULT_FOO`) and bounds (`FOO: IntRange` or
//!    `DurationRange`) if it has any, add `env::FOO` to [`consumer::ENV`], and, if the
//!    operator must always set it, to [`consumer::REQUIRED`];
//! 3. if the operator sets it: a field in [`consumer::Config`] and one line in its `to_env`;
//! 4. the flag itself: `#[arg(long, env = contract::env::FOO, default_value_t =
//!    contract::consumer::DEFAULT_FOO)]` (with the range in its `value_parser`);
//! 5. the operator: fill the new `Config` field in `operator/src/resolve.rs` (and, for a spec
//!    field, bound it in `operator/src/crd.rs` with the same constants).
//!
//! `workloads/cli/tests/contract.rs` fails until the two sides agree: every variable a
//! subcommand reads is in its `ENV` and in [`env::ALL`], every variable the operator writes is
//! read by the workload, and every `REQUIRED` one is written. A setting only a workload reads
//! (a tuning knob the operator leaves at its default) needs steps 1, 2 and 4.
//!
//! A new workload gets its own module of the same shape (as [`analytics`] did), a `Component`
//! in the operator, and an entry in the test's list of subcommands.

pub mod allocator;
pub mod analytics;
pub mod consumer;
pub mod dev;
pub mod duration;
pub mod env;
pub mod frontend;
pub mod kafka_security;
pub mod limits;
pub mod names;
pub mod producer;
pub mod range;
mod render;

pub use kafka_security::{KafkaAuth, SecurityProtocol};
pub use render::{Env, Kafka, Ops, Store};

/// Defines a workload's `PORT` and its loopback `DEFAULT_LISTEN` from one literal.
macro_rules! listen_port {
    ($port:literal) => {
        /// HTTP port of `/metrics`, `/healthz` and `/readyz` (and, for the frontend, everything else).
        pub const PORT: u16 = $port;
        /// Default `--listen` outside a cluster: loopback only.
        pub const DEFAULT_LISTEN: &str = concat!("127.0.0.1:", $port);
    };
}
pub(crate) use listen_port;

/// Address a workload listens on in a pod: every interface, so probes and Services reach it.
pub fn pod_listen(port: u16) -> String {
    format!("0.0.0.0:{port}")
}

/// Kafka outside a cluster: a broker on this machine.
pub const DEFAULT_KAFKA_BOOTSTRAP_SERVERS: &str = "127.0.0.1:9092";

/// The log filter every workload starts with (tracing `EnvFilter` syntax).
pub const DEFAULT_LOG: &str = "info";
