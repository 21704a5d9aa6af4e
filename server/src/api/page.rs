//! Cursor pagination for every list: `?limit=` ([`LIMIT`], default 50) and `?cursor=` (opaque: the
//! base64url JSON of the last row's sort key). Answers are `{"items": [...], "next_cursor"}`,
//! `next_cursor` being `null` on the last page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use persistence::{Page, Paged};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::rules::{Range, documented};

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// The page sizes allowed.
pub const LIMIT: Range = Range::new(1, 200);

documented!(
    /// `limit`: rows per page.
    PageLimit = LIMIT.integer_schema()
);

/// `limit` and `cursor` query parameters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page (default 50).
    #[param(inline, value_type = Option<PageLimit>)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PageOf<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> PageOf<T> {
    /// A list with nothing in it.
    pub fn empty() -> PageOf<T> {
        PageOf {
            items: Vec::new(),
            next_cursor: None,
        }
    }
}

impl PageQuery {
    /// The store's page request, with the cursor decoded as the list's key type `K`.
    pub fn page<K: DeserializeOwned>(&self) -> Result<Page<K>, ApiError> {
        let limit = match self.limit.as_deref() {
            None | Some("") => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|limit| LIMIT.contains(f64::from(*limit)))
                .ok_or_else(|| ApiError::invalid_field("limit", LIMIT.rule()))?,
        };
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(text) => Some(decode_cursor(text)?),
        };
        Ok(Page { limit, after })
    }
}

fn decode_cursor<K: DeserializeOwned>(text: &str) -> Result<K, ApiError> {
    let bad = || {
        ApiError::invalid_field(
            "cursor",
            "not a cursor this list returned; start without one",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

/// Encodes a sort key as a cursor.
pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// A page of the store's rows as an answer, the cursor made from the last row's key.
pub fn page_of<T, U, K: Serialize>(
    paged: Paged<T>,
    key: impl Fn(&T) -> K,
    convert: impl FnMut(T) -> U,
) -> PageOf<U> {
    let next_cursor = if paged.has_more {
        paged.items.last().map(|last| encode_cursor(&key(last)))
    } else {
        None
    };
    PageOf {
        items: paged.items.into_iter().map(convert).collect(),
        next_cursor,
    }
}
