//! The OpenAPI 3.1 document's frame (info, bearer security, the error schema) and the offline
//! viewer served at `/docs`: one self-contained HTML page (no CDN, no build step) that fetches
//! `/openapi.json` and renders every operation with its parameters, bodies and responses, and
//! can send a request with a pasted token.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The error answer of every route: `{"error": {"code", "message", "fields"?}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorResponse`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine code: `bad_request`, `unauthorized`, `payment_required`, `forbidden`, `not_found`,
    /// `conflict`, `payload_too_large`, `invalid_input`, `rate_limited`, `unavailable`, `internal`.
    pub code: String,
    /// What was wrong and what to do.
    pub message: String,
    /// For `invalid_input`: each offending field and its problem.
    pub fields: Option<BTreeMap<String, String>>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "classhub REST API",
        description = "The platform REST API of classhub: users, classes and rosters, content, \
                       progress, analytics, notifications, the AI tutor and billing, teachers' commands, \
                       and the Roblox game-server routes (`/api/v1/roblox/...`, which take a \
                       game-server key instead; Stripe's webhook is signed by Stripe). \
                       Every other route takes a bearer JWT \
                       (RS256/ES256 from the JWKS in production, HS256 in development) and is \
                       scoped to the token's tenant. Errors are `{\"error\": {\"code\", \"message\", \
                       \"fields\"?}}`; lists are cursor-paged (`limit`, `cursor` → `next_cursor`); \
                       429 answers carry `Retry-After`."
    ),
    modifiers(&BearerAuth),
    components(schemas(ErrorResponse, ErrorDetail)),
    security(("bearer" = []))
)]
struct Base;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "game_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("game-server key (chgk_...)")
                    .description(Some(
                        "a game-server key from `classhub gamekey create`, for /api/v1/roblox routes",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document's frame, before the route groups add their paths.
pub fn base() -> utoipa::openapi::OpenApi {
    let mut document = Base::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}

/// The `/docs` page.
pub const DOCS_HTML: &str = include_str!("docs.html");
