//! Errors as RFC 9457 `application/problem+json`, with a message that says what to fix.
//!
//! An engine or access-store error is answered by its class (`metering::ErrorClass`): what the
//! caller must change is a 4xx (400 invalid, 409 conflicting with the store, 422 not billable),
//! what a retry fixes a 503 with `Retry-After`, an engine without the call 501, a damaged store
//! 500. Nothing turns an error into text before this point, so no class is lost on the way.

use super::access::AccessError;
use super::writer::StoreError;
use crate::metering::{ErrorClass, MeteringError};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
    /// For a batch: the position of the first offending event.
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    /// Seconds to wait before retrying (sent as the Retry-After header).
    #[serde(skip)]
    retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank",
            title,
            status: status.as_u16(),
            detail: detail.into(),
            index: None,
            retry_after: None,
        }
    }

    pub fn at_index(mut self, index: usize) -> Problem {
        self.index = Some(index);
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Problem {
        self.retry_after = Some(seconds);
        self
    }

    /// What to change, as the body's `detail` says it.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "Bad request", detail)
    }

    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Store unavailable", detail)
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// The same problem, its detail preceded by what had happened when it arose.
    pub fn after(mut self, context: &str) -> Problem {
        self.detail = format!("{context}: {}", self.detail);
        self
    }

    /// The answer for an engine error (a contract's error names its index in the body).
    pub fn of_engine(e: &MeteringError) -> Problem {
        let class = e.class();
        let detail = match class {
            ErrorClass::Unprocessable => format!(
                "{e}; nothing of it was kept: change that shop's contract (or the catalogue), then call again"
            ),
            ErrorClass::Transient => format!("{e}; retry the same call"),
            _ => e.to_string(),
        };
        let problem = Problem::of_class(class, detail);
        match e {
            MeteringError::Contract { index, .. } => problem.at_index(*index),
            _ => problem,
        }
    }

    /// The answer when the store thread gave no result.
    pub fn of_store(e: &StoreError) -> Problem {
        match e.engine() {
            Some(engine) => Problem::of_engine(engine),
            None => Problem::of_class(e.class(), e.to_string()),
        }
    }

    /// The answer for an access-store error.
    pub fn of_access(e: &AccessError) -> Problem {
        let detail = match e.class() {
            ErrorClass::Transient => format!("{e}; nothing was changed: retry the same call"),
            _ => e.to_string(),
        };
        Problem::of_class(e.class(), detail)
    }

    fn of_class(class: ErrorClass, detail: String) -> Problem {
        match class {
            ErrorClass::Invalid => Problem::bad_request(detail),
            ErrorClass::Conflict => Problem::new(StatusCode::CONFLICT, "Conflict", detail),
            ErrorClass::Unprocessable => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "Cannot be billed", detail)
            }
            ErrorClass::Transient => Problem::unavailable(detail).retry_after(RETRY_AFTER_SECONDS),
            ErrorClass::Unsupported => {
                Problem::new(StatusCode::NOT_IMPLEMENTED, "Not available", detail)
            }
            ErrorClass::Internal => {
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", detail)
            }
        }
    }
}

/// Seconds a client should wait before retrying a transient failure (the server itself waited
/// SQLite's 5 s busy timeout before it gave up).
const RETRY_AFTER_SECONDS: u64 = 1;

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
