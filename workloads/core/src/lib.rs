//! QuakeStream's shared core: the normalised event, the parsers for every source, the wire
//! record on Kafka, Kafka client settings and their encryption and authentication and the embedded broker, and the ops endpoints.

pub mod alloc;
pub mod args;
pub mod kafka;
pub mod kafka_security;
pub mod meter;
pub mod model;
pub mod ops;
pub mod parse;
pub mod testkit;
pub mod wire;
