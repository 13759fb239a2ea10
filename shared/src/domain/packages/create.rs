//! `POST /create`: the same unexpired package for the same arguments, a new one otherwise (or
//! when the old one failed and `retry` is set), queued for the worker.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::dedupe;
use super::request::CreateRequest;
use super::status::{effective, Effective};
use super::{deduped_package, load, Package, Progress, Stage};
use crate::app::App;
use crate::domain::activities::Actor;
use crate::domain::identity::audit;
use crate::domain::identity::principal::Principal;
use crate::domain::identity::roles::{Permission, Scope};
use crate::domain::layout;
use crate::domain::rate_limit::PACKAGE_CREATES;
use crate::domain::{app_config, enroll_secrets};
use crate::error::{ApiError, ApiResult};
use crate::jobs::Job;
use crate::ports::{Cond, Item, StoreError, WriteOp};

/// A create request as `POST /create` takes it (JSON fields, both spellings), from `actor` at
/// `ip`: rate-limited per address, checked, created (or the same unexpired package found),
/// recorded in the activity log. Answers the package id.
pub async fn submit(app: &App, body: Value, actor: Actor, ip: &str) -> ApiResult<String> {
    PACKAGE_CREATES.enforce(app, ip).await?;
    // The deployment's default channels for those the request leaves out.
    let config = app_config::load(app.state()).await?;
    let request = CreateRequest::parse_with(
        body,
        &app.settings.packager.update_url,
        &config.packager.default_channels,
    )?;
    if request.args.update_roots.is_none() && app.settings.packager.update_root.is_none() {
        return Err(ApiError::bad_request(format!(
            "update_roots is required: this deployment has no trusted root metadata for {}",
            request.args.update_url
        )));
    }
    let id = create(app, request).await?;
    audit::record(app, actor, "created_package", json!({"package_id": id}), ip).await?;
    Ok(id)
}

/// An installer that enrolls into `team` (None: with a global secret), asked for by a signed-in
/// admin: it needs `BuildInstallers` and `ReadEnrollSecrets` there (403 otherwise), and the
/// scope's oldest enroll secret. `fields` are the build's other options (channels, desktop...);
/// `fleet_url` is the server's public URL.
pub async fn for_team(
    app: &App,
    principal: &Principal,
    team: Option<u64>,
    mut fields: Map<String, Value>,
    fleet_url: &str,
    ip: &str,
) -> ApiResult<String> {
    principal.require(Permission::BuildInstallers, Scope::of(team))?;
    let secrets = enroll_secrets::readable(app, principal, team).await?;
    // An installer carries its secret in an environment file and on command lines, where
    // white space does not survive (`CreateRequest` refuses it): the oldest secret without.
    let secret = secrets
        .into_iter()
        .find(|s| !s.secret.chars().any(char::is_whitespace))
        .ok_or_else(|| {
            ApiError::bad_request(
                "there is no enroll secret to build with (one without spaces): add one first (a team's secrets are on its page)",
            )
        })?;
    fields.insert("fleet_url".into(), json!(fleet_url));
    fields.insert("enroll_secret".into(), json!(secret.secret));
    submit(app, Value::Object(fields), principal.actor(), ip).await
}

/// Answers the package id.
pub async fn create(app: &App, request: CreateRequest) -> ApiResult<String> {
    let now = app.clock.unix();
    let store = app.state();
    let hash = dedupe::hash(app, &request.args).await?;
    let mut replaced = None;
    if let Some(item) = store.get(&layout::package_dedupe(&hash)).await? {
        if let Some((package, _)) = load(store, deduped_package(&item)).await? {
            let retried = request.retry && matches!(effective(&package, now), Effective::Failed(_));
            let reusable = !package.expired(now) && !retried;
            if reusable {
                return Ok(package.id);
            }
        }
        replaced = Some(item.version);
    }

    let id = uuid::Uuid::new_v4().to_string();
    let kind = request.args.kind.clone();
    // The arguments first: a queued record always finds them.
    let arguments =
        serde_json::to_vec(&request.args).map_err(|e| ApiError::Internal(e.to_string()))?;
    let request_blob = Package::request_blob(&id);
    app.ports
        .blobs
        .put(&request_blob, Bytes::from(arguments))
        .await?;
    let package = Package {
        id: id.clone(),
        kind,
        progress: Progress::InProgress {
            stage: Stage::Queued,
        },
        created_at: now,
        updated_at: now,
        expires_at: now + i64::from(app.settings.packager.expiry_minutes) * 60,
        dedupe: hash.clone(),
        swept: false,
        notarization: None,
    };
    let dedupe_item = Item::new(
        layout::package_dedupe(&hash),
        serde_json::json!({ "package_id": id }),
    )
    .with_expiry(package.expires_at);
    let written = store
        .write(vec![
            WriteOp::Put {
                item: package.item()?,
                cond: Cond::NotExists,
            },
            WriteOp::Put {
                item: dedupe_item,
                cond: replaced.map_or(Cond::NotExists, Cond::Version),
            },
        ])
        .await;
    match written {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            // An identical create won the race: its package is the answer.
            let _ = app.ports.blobs.delete(&request_blob).await;
            return match store.get(&layout::package_dedupe(&hash)).await? {
                Some(item) => Ok(deduped_package(&item).to_string()),
                None => Err(ApiError::Unavailable("concurrent create".into())),
            };
        }
        Err(other) => {
            let _ = app.ports.blobs.delete(&request_blob).await;
            return Err(other.into());
        }
    }

    let job = Job::BuildPackage {
        package: id.clone(),
    };
    if let Err(err) = app.ports.packager_queue.send(&job.to_message()?).await {
        // Nothing will build it: take it back so that the client's retry starts afresh.
        let _ = store
            .write(vec![
                WriteOp::Delete {
                    key: layout::package(&id),
                    cond: Cond::None,
                },
                WriteOp::Delete {
                    key: layout::package_dedupe(&hash),
                    cond: Cond::None,
                },
            ])
            .await;
        let _ = app.ports.blobs.delete(&request_blob).await;
        return Err(err.into());
    }
    tracing::info!(package = %id, kind = %package.kind, "package queued");
    Ok(id)
}
