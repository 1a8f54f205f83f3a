//! Byte limits of the data path, in one place so that the parsers, the producer, the topics the
//! operator renders and the consumer agree:
//!
//! - an input item (websocket frame, JSON line, feature, single document) is parsed up to
//!   [`MAX_ITEM_BYTES`]; a rejected item up to that size is dead-lettered whole;
//! - a rejected input over [`MAX_ITEM_BYTES`] is dead-lettered as its first [`DLQ_PREFIX_BYTES`]
//!   with its full length and SHA-256 in headers (`too_large`);
//! - every Kafka record (value plus headers) fits in [`MAX_MESSAGE_BYTES`]: the producer's
//!   `message.max.bytes`, both topics' `max.message.bytes` and the consumer's
//!   `max.partition.fetch.bytes`.

/// The largest websocket frame, JSON line, feature or single document that is parsed.
pub const MAX_ITEM_BYTES: usize = 1 << 20;
/// What a dead letter keeps of an input over [`MAX_ITEM_BYTES`]: its first this many bytes.
pub const DLQ_PREFIX_BYTES: usize = 64 << 10;
/// Largest Kafka record: a whole [`MAX_ITEM_BYTES`] dead letter with its headers fits, twice over.
pub const MAX_MESSAGE_BYTES: usize = 2 << 20;
/// The largest websocket message read. Up to this a frame over [`MAX_ITEM_BYTES`] is
/// dead-lettered and the connection kept; a bigger one ends the connection (the websocket
/// library cannot skip a message), which is then replaced and backfilled.
pub const MAX_WS_MESSAGE_BYTES: usize = 16 << 20;
/// The largest FDSN page body read; a bigger page is asked again with half the page size.
pub const MAX_FDSN_PAGE_BYTES: usize = 32 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_nest() {
        const { assert!(DLQ_PREFIX_BYTES < MAX_ITEM_BYTES) };
        // A whole item plus headers (each header value is capped far below 64 KiB) fits.
        const { assert!(MAX_ITEM_BYTES + (64 << 10) <= MAX_MESSAGE_BYTES) };
        const { assert!(MAX_ITEM_BYTES < MAX_WS_MESSAGE_BYTES) };
    }
}
