//! Typed errors with stable codes (for metrics and dead-letter reasons).

/// Why an event was refused. Nothing is stored for a refused event.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidEvent {
    #[error("field `unid` is invalid: {0:?} (1 to {max} printable characters)", max = crate::event::MAX_UNID_LEN)]
    BadUnid(String),
    #[error("field `{field}` is out of range: {value} (allowed {min} to {max})")]
    OutOfRange {
        field: &'static str,
        value: f64,
        min: f64,
        max: f64,
    },
}

impl InvalidEvent {
    /// A short, stable label (the same codes as the wire contract's rejections).
    pub fn code(&self) -> &'static str {
        match self {
            InvalidEvent::BadUnid(_) => "bad_unid",
            InvalidEvent::OutOfRange { .. } => "out_of_range",
        }
    }
}

/// Why a snapshot could not be restored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RestoreError {
    #[error("snapshot version {0} is not supported (this build reads version {supported})", supported = crate::snapshot::SNAPSHOT_VERSION)]
    UnsupportedVersion(u32),
    #[error("snapshot parameters are invalid: {0}")]
    InvalidParams(String),
    #[error("snapshot event {unid:?} is invalid: {source}")]
    InvalidEvent { unid: String, source: InvalidEvent },
}

impl RestoreError {
    pub fn code(&self) -> &'static str {
        match self {
            RestoreError::UnsupportedVersion(_) => "unsupported_version",
            RestoreError::InvalidParams(_) => "bad_params",
            RestoreError::InvalidEvent { .. } => "bad_event",
        }
    }
}
