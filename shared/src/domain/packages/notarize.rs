//! Notarizing a signed .pkg through Apple's Notary API without holding a worker while Apple
//! works (minutes): the build stores the installer, submits it and records the submission; a
//! delayed `CheckNotarization` job asks for the verdict, and asks again later while Apple is
//! still working. Accepted: the package succeeds with the stored installer. Invalid or
//! rejected: it fails with Apple's log. (The ticket is not stapled: Gatekeeper fetches it
//! online on first launch.)

use packager::notary::{NotaryClient, NotaryCredentials, NotaryError, SubmissionStatus};

use super::build::{finish, secret, BuildFailure, Built, PackageJobError, Run, Step};
use super::{Notarization, Progress, Stage};
use crate::app::AppInner;
use crate::jobs::Job;

/// Apple usually answers within minutes; a submission still undecided after this is given up.
pub const GIVE_UP_AFTER_SECS: i64 = 3 * 3600;

fn refused(err: impl std::fmt::Display) -> Step {
    Step::Failed(BuildFailure::Notarize(err.to_string()))
}

fn notary_step(err: NotaryError) -> Step {
    if err.is_transient() {
        Step::Retry(err.into())
    } else {
        refused(err)
    }
}

async fn client(app: &AppInner) -> Result<NotaryClient, Step> {
    let settings = &app.settings.packager;
    let Some(name) = &settings.notary_secret else {
        return Err(refused("no notary credentials are configured"));
    };
    let text = secret(app, name, "notary credentials").await?;
    let credentials = NotaryCredentials::from_json(&text).map_err(refused)?;
    NotaryClient::new(
        &credentials,
        &settings.notary_url,
        settings.notary_upload_endpoint.clone(),
    )
    .map_err(refused)
}

/// Submits the stored, signed installer `built` (`size` bytes) and schedules the first check.
pub(super) async fn submit(
    run: &mut Run<'_>,
    built: Built,
    size: u64,
    log: &mut Vec<String>,
) -> Result<(), Step> {
    let app = run.app;
    if app.settings.packager.signing_secret.is_none() {
        return Err(refused(
            "Apple notarizes only signed packages, and no signing identity is configured",
        ));
    }
    run.stage(Stage::Notarizing).await?;
    let client = client(app).await?;
    let submission_id = client
        .submit(&built.path, &built.file_name)
        .await
        .map_err(notary_step)?;
    log.push(submitted(&submission_id));
    tracing::info!(package = %run.package.id, submission = %submission_id, "package submitted for notarization");
    let mut next = run.package.clone();
    next.notarization = Some(Notarization {
        submission_id,
        file_name: built.file_name,
        size,
        submitted_at: app.clock.unix(),
    });
    run.save(next).await?;
    schedule_check(app, &run.package.id).await
}

/// The build log's line for a submission (the check's log starts from it again).
fn submitted(submission_id: &str) -> String {
    format!("submitted to Apple's notary service: {submission_id}")
}

/// Asks for the verdict after the configured pause.
pub(super) async fn schedule_check(app: &AppInner, id: &str) -> Result<(), Step> {
    let job = Job::CheckNotarization {
        package: id.to_string(),
    }
    .to_message()
    .map_err(|e| Step::Retry(e.into()))?;
    app.ports
        .packager_queue
        .send_delayed(&job, app.settings.packager.notary_poll)
        .await
        .map_err(|e| Step::Retry(e.into()))
}

/// The `CheckNotarization` job: records Apple's verdict, or asks again later.
pub async fn check(app: &AppInner, id: &str) -> Result<(), PackageJobError> {
    let Some(mut run) = Run::load(app, id).await? else {
        return Ok(());
    };
    let Some(notarization) = run.package.notarization.clone() else {
        // Not submitted yet: its build job carries on.
        return Ok(());
    };
    let mut log = vec![submitted(&notarization.submission_id)];
    let outcome = verdict(&mut run, &notarization, &mut log).await;
    finish(&mut run, outcome, log).await
}

async fn verdict(
    run: &mut Run<'_>,
    notarization: &Notarization,
    log: &mut Vec<String>,
) -> Result<(), Step> {
    let app = run.app;
    let client = client(app).await?;
    let id = &notarization.submission_id;
    let status = match client.status(id).await {
        Ok(status) => Some(status),
        Err(err) if err.is_transient() => {
            tracing::warn!(package = %run.package.id, error = %err, "notarization status unknown; asking again later");
            None
        }
        Err(err) => return Err(refused(err)),
    };
    match status {
        Some(SubmissionStatus::Accepted) => {
            log.push("notarized".into());
            run.record(Progress::Success {
                file_name: notarization.file_name.clone(),
                size: notarization.size,
            })
            .await?;
            tracing::info!(package = %run.package.id, "package notarized");
            Ok(())
        }
        Some(verdict @ (SubmissionStatus::Invalid | SubmissionStatus::Rejected)) => {
            let details = client
                .log(id)
                .await
                .unwrap_or_else(|e| format!("(Apple's log could not be read: {e})"));
            Err(refused(format!(
                "Apple's notary service answered {:?} for submission {id}:\n{details}",
                verdict.as_str()
            )))
        }
        Some(SubmissionStatus::InProgress) | None => {
            if app.clock.unix() - notarization.submitted_at > GIVE_UP_AFTER_SECS {
                return Err(refused(format!(
                    "Apple's notary service has not decided on submission {id} in {} hours",
                    GIVE_UP_AFTER_SECS / 3600
                )));
            }
            // Still waiting: keep the stage fresh (not stalled) and ask again later.
            run.record(Progress::InProgress {
                stage: Stage::Notarizing,
            })
            .await?;
            schedule_check(app, &run.package.id).await
        }
    }
}
