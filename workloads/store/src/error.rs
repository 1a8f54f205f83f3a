//! Typed store errors with a transient/permanent classification and a metric label.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB (or the endpoint) asked us to slow down.
    #[error("throttled by DynamoDB ({code}): {message}")]
    Throttled { code: String, message: String },
    /// 5xx from the service.
    #[error("DynamoDB service error {status} ({code}): {message}")]
    Unavailable { status: u16, code: String, message: String },
    /// The request or an attempt timed out.
    #[error("DynamoDB request timed out: {0}")]
    Timeout(String),
    /// The endpoint could not be reached (refused, reset, DNS, TLS handshake).
    #[error("cannot reach DynamoDB: {0}")]
    Connection(String),
    /// The table does not exist (run `quakestream table create`).
    #[error("table {table:?} not found: {message}")]
    TableNotFound { table: String, message: String },
    /// Credentials missing or not allowed (IAM, IRSA, Pod Identity).
    #[error("access denied or no credentials ({code}): {message}")]
    AccessDenied { code: String, message: String },
    /// DynamoDB rejected this request as invalid (e.g. an item too large): retrying won't help.
    #[error("DynamoDB rejected the request ({code}): {message}")]
    Rejected { code: String, message: String },
    /// An item in the table does not have the shape this build writes.
    #[error("item {unid:?} is malformed: {detail}")]
    Malformed { unid: String, detail: String },
    /// Arguments the store cannot use (e.g. no region configured).
    #[error("invalid request: {0}")]
    InvalidArgument(String),
    /// Anything else the SDK reports (misconfiguration, a malformed response).
    #[error("DynamoDB client error: {0}")]
    Other(String),
}

impl StoreError {
    /// Throttling, 5xx, timeouts and connection errors: retry with backoff, never drop.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Throttled { .. }
                | StoreError::Unavailable { .. }
                | StoreError::Timeout(_)
                | StoreError::Connection(_)
        )
    }

    /// The error is about this one record (retrying it will fail the same way), not about the store.
    pub fn is_record_specific(&self) -> bool {
        matches!(self, StoreError::Rejected { .. } | StoreError::Malformed { .. })
    }

    /// A short, stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            StoreError::Throttled { .. } => "throttled",
            StoreError::Unavailable { .. } => "unavailable",
            StoreError::Timeout(_) => "timeout",
            StoreError::Connection(_) => "connection",
            StoreError::TableNotFound { .. } => "table_not_found",
            StoreError::AccessDenied { .. } => "access_denied",
            StoreError::Rejected { .. } => "rejected",
            StoreError::Malformed { .. } => "malformed",
            StoreError::InvalidArgument(_) => "invalid_argument",
            StoreError::Other(_) => "other",
        }
    }

    /// Classifies any SDK error. `table` names the table for `TableNotFound`.
    pub(crate) fn from_sdk<E>(table: &str, err: SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.code().unwrap_or_default().to_owned();
        let message = err.message().map(str::to_owned).unwrap_or_else(|| display_chain(&err));
        match &err {
            SdkError::TimeoutError(_) => StoreError::Timeout(display_chain(&err)),
            SdkError::DispatchFailure(d) => {
                if d.is_timeout() {
                    StoreError::Timeout(display_chain(&err))
                } else if d.is_io() || d.is_other() {
                    StoreError::Connection(display_chain(&err))
                } else {
                    // e.g. a user error in the connector config.
                    StoreError::Other(display_chain(&err))
                }
            }
            // The response could not be parsed: typically a proxy or a server dying mid-response.
            SdkError::ResponseError(_) => StoreError::Connection(display_chain(&err)),
            SdkError::ServiceError(s) => {
                let status = s.raw().status().as_u16();
                classify_service(table, status, code, message)
            }
            SdkError::ConstructionFailure(_) => {
                let text = display_chain(&err);
                // Credential resolution happens while the request is built.
                if text.contains("credentials") || text.contains("identity") {
                    StoreError::AccessDenied {
                        code: "NoCredentials".into(),
                        message: text,
                    }
                } else {
                    StoreError::Other(text)
                }
            }
            _ => StoreError::Other(display_chain(&err)),
        }
    }
}

fn classify_service(table: &str, status: u16, code: String, message: String) -> StoreError {
    match code.as_str() {
        "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded"
        | "ThrottlingException"
        | "Throttling"
        | "LimitExceededException"
        | "TransactionInProgressException" => StoreError::Throttled { code, message },
        "InternalServerError" | "InternalFailure" | "ServiceUnavailable" | "ServiceUnavailableException" => {
            StoreError::Unavailable { status, code, message }
        }
        "ResourceNotFoundException" => StoreError::TableNotFound {
            table: table.to_owned(),
            message,
        },
        "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "MissingAuthenticationToken"
        | "ExpiredTokenException"
        | "IncompleteSignature" => StoreError::AccessDenied { code, message },
        "ValidationException" | "ItemCollectionSizeLimitExceededException" | "SerializationException" => {
            StoreError::Rejected { code, message }
        }
        _ if status >= 500 => StoreError::Unavailable { status, code, message },
        _ if status == 429 => StoreError::Throttled { code, message },
        _ => StoreError::Other(format!("HTTP {status} {code}: {message}")),
    }
}

/// The error and its sources on one line (the SDK's Display alone says only "dispatch failure").
pub(crate) fn display_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_codes_are_classified() {
        let t = |code: &str, status| classify_service("quakes", status, code.into(), "m".into());
        assert!(t("ProvisionedThroughputExceededException", 400).is_transient());
        assert!(t("ThrottlingException", 400).is_transient());
        assert!(t("InternalServerError", 500).is_transient());
        assert!(t("Whatever", 503).is_transient());
        assert!(t("", 429).is_transient());
        assert!(!t("ValidationException", 400).is_transient());
        assert!(t("ValidationException", 400).is_record_specific());
        assert!(matches!(
            t("ResourceNotFoundException", 400),
            StoreError::TableNotFound { .. }
        ));
        assert!(matches!(
            t("AccessDeniedException", 400),
            StoreError::AccessDenied { .. }
        ));
        assert!(!t("AccessDeniedException", 400).is_transient());
    }
}
