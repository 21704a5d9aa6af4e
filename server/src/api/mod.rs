//! The REST API under `/api/v1`: the JSON body extractor and the one error shape
//! ([`ApiError`]) every route answers with. Route groups live in their own modules.

mod error;
mod json;

pub use error::{ApiError, ErrorKind};
pub use json::ApiJson;
