//! The OpenAPI 3.1 document's frame (info, security schemes, the error schema), the statuses
//! shared pieces of the REST kit answer ([`Answer`], put into every operation they wrap by
//! [`add_answers`] and [`document_extractors`]), and the offline viewer served at `/docs`: one
//! self-contained HTML page (no CDN, no build step) that fetches `/openapi.json` and renders
//! every operation with its parameters, bodies and responses, and can send a request with a
//! pasted token.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
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
    /// `conflict`, `payload_too_large`, `unsupported_media_type`, `range_not_satisfiable`,
    /// `invalid_input`, `rate_limited`, `unavailable`, `internal`.
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

/// A status that a shared piece of the REST kit (an extractor, a layer) answers, declared beside
/// the piece, so each operation it wraps documents it without a hand-written line per route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// When the piece answers it.
    pub when: &'static str,
}

/// Adds `answers` to each operation of `document` that `wraps(method, path)` selects (method in
/// lower case, path as templated in the document): the layer's answers on the routes behind it.
pub fn add_answers(
    document: &mut utoipa::openapi::OpenApi,
    answers: &[Answer],
    wraps: impl Fn(&str, &str) -> bool,
) {
    for (path, item) in document.paths.paths.iter_mut() {
        for (method, operation) in operations_mut(item) {
            if wraps(method, path) {
                answers
                    .iter()
                    .for_each(|answer| add_answer(operation, answer));
            }
        }
    }
}

/// Documents what the extractors of a route group do on each of its operations: the answers of
/// the group's credential extractor (`credential`: `Caller`'s or `GameServer`'s), and of
/// [`ApiJson`], [`ApiQuery`] and [`ApiPath`] where the operation has a JSON body, query parameters
/// or path parameters (a group's routes read those only through these extractors); and that
/// [`ApiQuery`] reads an empty query parameter as absent (`allowEmptyValue`).
///
/// [`ApiJson`]: super::ApiJson
/// [`ApiQuery`]: super::ApiQuery
/// [`ApiPath`]: super::ApiPath
pub fn document_extractors(document: &mut utoipa::openapi::OpenApi, credential: &[Answer]) {
    for item in document.paths.paths.values_mut() {
        for (_, operation) in operations_mut(item) {
            let mut answers = credential.to_vec();
            if has_json_body(operation) {
                answers.extend_from_slice(super::json::ANSWERS);
            }
            if has_parameters(operation, &ParameterIn::Query) {
                answers.extend_from_slice(super::extract::QUERY_ANSWERS);
                allow_empty_query_values(operation);
            }
            if has_parameters(operation, &ParameterIn::Path) {
                answers.extend_from_slice(super::extract::PATH_ANSWERS);
            }
            answers
                .iter()
                .for_each(|answer| add_answer(operation, answer));
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|operation| (method, operation)))
}

/// Marks each query parameter `allowEmptyValue: true` (utoipa's `Parameter` has no field for this
/// OpenAPI keyword, so it goes in as an extension, which serializes beside the other fields).
fn allow_empty_query_values(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        if let RefOr::T(parameter) = parameter
            && parameter.parameter_in == ParameterIn::Query
        {
            parameter
                .extensions
                .get_or_insert_with(Default::default)
                .insert("allowEmptyValue".to_owned(), serde_json::Value::Bool(true));
        }
    }
}

fn has_json_body(operation: &Operation) -> bool {
    matches!(&operation.request_body, Some(RefOr::T(body)) if body.content.contains_key("application/json"))
}

fn has_parameters(operation: &Operation, location: &ParameterIn) -> bool {
    operation.parameters.iter().flatten().any(
        |parameter| matches!(parameter, RefOr::T(parameter) if parameter.parameter_in == *location),
    )
}

/// Documents `answer` on `operation`; a status the route documents itself keeps its own
/// description (it is more precise), unless that description is empty.
fn add_answer(operation: &mut Operation, answer: &Answer) {
    let responses = &mut operation.responses.responses;
    let status = answer.status.to_string();
    if let Some(RefOr::T(response)) = responses.get_mut(&status) {
        if response.description.is_empty() {
            response.description = answer.when.to_owned();
        }
        if answer.status == 429 {
            response
                .headers
                .entry("Retry-After".to_owned())
                .or_insert_with(|| retry_after().into());
        }
        return;
    }
    let mut response = ResponseBuilder::new().description(answer.when).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorResponse")))
            .build(),
    );
    if answer.status == 429 {
        response = response.header("Retry-After", retry_after());
    }
    responses.insert(status, response.build().into());
}

/// The `Retry-After` header of a 429 answer.
fn retry_after() -> Header {
    HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        ))
        .description(Some("seconds to wait before trying again"))
        .build()
}

/// The `/docs` page.
pub const DOCS_HTML: &str = include_str!("docs.html");
