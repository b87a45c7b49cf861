//! API keys over HTTP, for the administrator: mint, list, revoke.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/admin/tenants/{tenant}/keys` | mint a key (the tenant is created if new); 201 with the key, shown once, and its `key_id` |
//! | `GET /v1/admin/tenants/{tenant}/keys` | the tenant's keys: id, creation and revocation times (never the key) |
//! | `DELETE /v1/admin/keys/{key_id}` | revoke a key: 204, refused from then on (401 "revoked"); 404 if there is no such key |
//!
//! Each call runs on the access thread (`access_thread`), never on a runtime worker.

use super::access::{KeyId, KeyInfo};
use super::metrics::Refusal;
use super::problem::Problem;
use super::server::{check_admin, App};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/v1/admin/tenants/{tenant}/keys",
            get(get_keys).post(post_key),
        )
        .route("/v1/admin/keys/{key_id}", delete(delete_key))
}

#[derive(Serialize, Deserialize)]
pub struct KeyBody {
    pub tenant: String,
    /// Shown once; the server keeps only its hash.
    pub key: String,
    /// The key's public id, to list or revoke it (absent from servers before revocation).
    #[serde(default)]
    pub key_id: i64,
}

#[derive(Serialize, Deserialize)]
pub struct KeysBody {
    pub tenant: String,
    pub keys: Vec<KeyInfo>,
}

/// Refuses anyone but the administrator.
fn admin_only(app: &App, headers: &HeaderMap) -> Result<(), Problem> {
    check_admin(app, headers).inspect_err(|_| app.metrics.refused(Refusal::Unauthorized))
}

/// Mints an API key for a tenant (created if new). The body is ignored, but read: a request
/// whose body is left unread cannot share its connection with the next one, and hyper closes
/// it, which a client's next request on the pooled connection sees as "peer disconnected".
async fn post_key(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    _body: axum::body::Bytes,
) -> Response {
    if let Err(problem) = admin_only(&app, &headers) {
        return problem.into_response();
    }
    let name = tenant.clone();
    match app.access.with(move |store| store.mint_key(&name)).await {
        Ok((_, id, key)) => (
            StatusCode::CREATED,
            Json(KeyBody {
                tenant,
                key,
                key_id: id.0,
            }),
        )
            .into_response(),
        Err(e) => Problem::of_access(&e).into_response(),
    }
}

async fn get_keys(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Response {
    if let Err(problem) = admin_only(&app, &headers) {
        return problem.into_response();
    }
    let name = tenant.clone();
    match app.access.with(move |store| store.keys_of(&name)).await {
        Ok(Some(keys)) => Json(KeysBody { tenant, keys }).into_response(),
        Ok(None) => Problem::new(
            StatusCode::NOT_FOUND,
            "Not found",
            format!("no tenant named {tenant:?}"),
        )
        .into_response(),
        Err(e) => Problem::of_access(&e).into_response(),
    }
}

async fn delete_key(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(key_id): Path<String>,
) -> Response {
    if let Err(problem) = admin_only(&app, &headers) {
        return problem.into_response();
    }
    let Ok(id) = key_id.parse::<i64>() else {
        return Problem::bad_request(format!(
            "key id {key_id:?} is not a number (the key_id returned when the key was minted)"
        ))
        .into_response();
    };
    match app.access.with(move |store| store.revoke(KeyId(id))).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => Problem::new(
            StatusCode::NOT_FOUND,
            "Not found",
            format!("no API key has id {id}"),
        )
        .into_response(),
        Err(e) => Problem::of_access(&e).into_response(),
    }
}
