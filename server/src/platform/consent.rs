//! Consent (COPPA): each student's consent state — `pending` until a parent (or an admin, the
//! school acting for the parent) grants or revokes it, with who and when — and each tenant's
//! policy. While a tenant requires consent, a student whose consent is not `granted` gets no AI
//! tutor (their questions are not sent to the AI provider) and their Roblox account cannot be
//! linked: [`check`] is the one rule both paths call, reading the state as it is now. The policy
//! is off until a tenant's admin turns it on (`PUT /api/v1/consent/policy`), so a school decides
//! when its consents are collected. Every decision and policy change is in the audit trail.

use axum::Json;
use axum::extract::State;
use persistence::ConsentRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::openapi::ErrorResponse;
use crate::api::{ApiError, ApiJson, ApiPath, Caller, ErrorKind};
use crate::app::AppState;
use crate::auth::Role;
use crate::platform::audit::{self, Target};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_consent, set_consent))
        .routes(routes!(get_policy, set_policy))
}

/// A student's consent as the API shows it (`pending` with no decider when nobody decided).
#[derive(Debug, Serialize, ToSchema)]
struct Consent {
    /// The student.
    student_id: String,
    /// `pending`, `granted` or `revoked` (`not_applicable` for a user who is not a student).
    state: String,
    /// Who decided it (the parent, or the admin acting for them); `null` while pending.
    decided_by: Option<String>,
    /// Their role (`parent` or `admin`).
    decided_role: Option<String>,
    /// When.
    decided_at: Option<String>,
    /// Whether the tenant requires consent now (AI and Roblox linking wait for `granted`).
    required: bool,
}

/// A decision: grant or revoke.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConsentDecision {
    /// `granted` or `revoked`.
    state: String,
}

/// The tenant's consent policy.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConsentPolicy {
    /// Whether a student needs granted consent before their data goes to an AI provider or
    /// their Roblox account is linked.
    required: bool,
}

/// Whether `tenant` requires consent now.
async fn required(app: &AppState, tenant: &str) -> Result<bool, ApiError> {
    Ok(app.store().consent_required(tenant).await?.unwrap_or(false))
}

/// The one consent rule: `Ok` unless the tenant requires consent and `student`'s is not granted;
/// then 403 saying what waits for it (`what`, e.g. "use the AI tutor") and who can grant it.
pub(crate) async fn check(
    app: &AppState,
    tenant: &str,
    student: &str,
    what: &str,
) -> Result<(), ApiError> {
    if !required(app, tenant).await? {
        return Ok(());
    }
    let state = app
        .store()
        .consent(tenant, student)
        .await?
        .map_or_else(|| "pending".to_owned(), |consent| consent.state);
    if state == "granted" {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::Forbidden,
            format!(
                "student {student} may not {what} until a parent grants consent (it is {state}); \
                 a linked parent grants it with PUT /api/v1/users/{student}/consent, or an admin \
                 for the school"
            ),
        ))
    }
}

/// May `caller` see or decide `student`'s consent? Admins, the student's linked parents, and
/// (to see only) the student.
fn may(caller: &Caller, student: &str, deciding: bool) -> Result<(), ApiError> {
    let allowed = match caller.role() {
        Role::Admin => true,
        Role::Parent => caller.0.children.iter().any(|child| child == student),
        Role::Student => !deciding && caller.user() == student,
        Role::Educator | Role::Guest => false,
    };
    if allowed {
        Ok(())
    } else if deciding {
        Err(ApiError::new(
            ErrorKind::Forbidden,
            "only the student's linked parents, or an admin acting for them, decide consent",
        ))
    } else {
        Err(ApiError::new(
            ErrorKind::Forbidden,
            "you may see your own consent (parents: their children's)",
        ))
    }
}

async fn shown(
    app: &AppState,
    tenant: &str,
    student: &str,
    record: Option<ConsentRecord>,
) -> Result<Consent, ApiError> {
    let required = required(app, tenant).await?;
    Ok(match record {
        Some(record) => Consent {
            student_id: record.student_id,
            state: record.state,
            decided_by: Some(record.decided_by),
            decided_role: Some(record.decided_role),
            decided_at: Some(record.decided_at),
            required,
        },
        None => Consent {
            student_id: student.to_owned(),
            state: "pending".to_owned(),
            decided_by: None,
            decided_role: None,
            decided_at: None,
            required,
        },
    })
}

/// Whether `student` is a student of the caller's tenant: `Ok(false)` for another user (consent
/// is a student's), 404 for nobody.
async fn a_student(app: &AppState, caller: &Caller, student: &str) -> Result<bool, ApiError> {
    match app.store().user(caller.tenant(), student).await? {
        Some(user) => Ok(user.role == Role::Student.as_str()),
        None => Err(ApiError::not_found("user")),
    }
}

/// A student's consent (admins, the student's linked parents, the student).
#[utoipa::path(get, path = "/api/v1/users/{user_id}/consent", tag = "consent",
    params(("user_id" = String, Path, description = "student id")),
    responses((status = 200, body = Consent),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn get_consent(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(student): ApiPath<String>,
) -> Result<Json<Consent>, ApiError> {
    may(&caller, &student, false)?;
    if !a_student(&app, &caller, &student).await? {
        // Consent is a student's: other users have none to give or wait for.
        return Ok(Json(Consent {
            student_id: student,
            state: "not_applicable".to_owned(),
            decided_by: None,
            decided_role: None,
            decided_at: None,
            required: false,
        }));
    }
    let record = app.store().consent(caller.tenant(), &student).await?;
    Ok(Json(shown(&app, caller.tenant(), &student, record).await?))
}

/// Grant or revoke a student's consent (the student's linked parents, or an admin acting for
/// them). Takes effect at once for the AI tutor and Roblox linking.
#[utoipa::path(put, path = "/api/v1/users/{user_id}/consent", tag = "consent",
    request_body = ConsentDecision, params(("user_id" = String, Path, description = "student id")),
    responses((status = 200, body = Consent),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 409, description = "the user is not a student", body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn set_consent(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(student): ApiPath<String>,
    ApiJson(decision): ApiJson<ConsentDecision>,
) -> Result<Json<Consent>, ApiError> {
    may(&caller, &student, true)?;
    if !matches!(decision.state.as_str(), "granted" | "revoked") {
        return Err(ApiError::invalid_field(
            "state",
            "must be granted or revoked",
        ));
    }
    if !a_student(&app, &caller, &student).await? {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            format!("{student} is not a student; consent is decided for students only"),
        ));
    }
    let record = app
        .store()
        .set_consent(
            caller.tenant(),
            &student,
            &decision.state,
            caller.user(),
            caller.role().as_str(),
        )
        .await?;
    let action = format!("consent.{}", decision.state);
    audit::record(&app, &caller, &action, Target::student(&student), None).await;
    Ok(Json(
        shown(&app, caller.tenant(), &student, Some(record)).await?,
    ))
}

/// The tenant's consent policy (admins).
#[utoipa::path(get, path = "/api/v1/consent/policy", tag = "consent",
    responses((status = 200, body = ConsentPolicy), (status = 403, body = ErrorResponse)))]
async fn get_policy(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<ConsentPolicy>, ApiError> {
    caller.require_admin("read the consent policy")?;
    Ok(Json(ConsentPolicy {
        required: required(&app, caller.tenant()).await?,
    }))
}

/// Turn the consent requirement on or off for the tenant (admins).
#[utoipa::path(put, path = "/api/v1/consent/policy", tag = "consent", request_body = ConsentPolicy,
    responses((status = 200, body = ConsentPolicy),
              (status = 403, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
async fn set_policy(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(policy): ApiJson<ConsentPolicy>,
) -> Result<Json<ConsentPolicy>, ApiError> {
    caller.require_admin("change the consent policy")?;
    app.store()
        .set_consent_required(caller.tenant(), policy.required)
        .await?;
    let target = Target {
        kind: "tenant",
        id: caller.tenant(),
        student: None,
    };
    let detail = serde_json::json!({"required": policy.required});
    audit::record(
        &app,
        &caller,
        "consent.policy_changed",
        target,
        Some(detail),
    )
    .await;
    Ok(Json(policy))
}
