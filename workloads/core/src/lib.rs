//! QuakeStream's shared core: the normalised event, the parsers for every source, the wire
//! record on Kafka, Kafka client settings and the embedded broker, and the ops endpoints.

pub mod args;
pub mod kafka;
pub mod meter;
pub mod model;
pub mod ops;
pub mod parse;
pub mod testkit;
pub mod wire;
