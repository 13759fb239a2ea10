//! Password login, limited per source address and per account in the state store (so the
//! limit holds across Lambda instances). An unknown email, an SSO-only account and a wrong
//! password take the same steps (two reads, one argon2id verification, two counters) and get
//! the same answer, so the answer and its timing do not tell which emails have accounts.

use super::passwords;
use super::sessions::{self, NewCredential};
use super::users::{self, User};
use crate::app::AppInner;
use crate::domain::credentials::sha256_hex;
use crate::domain::rate_limit::{RateLimit, Verdict};
use crate::error::ApiError;

/// Failed logins per source address: generous for an office behind one NAT address.
pub const FAILURES_PER_ADDRESS: RateLimit = RateLimit {
    name: "login-address",
    max: 50,
    window_secs: 900,
};

/// Failed logins per account (by email, whether it exists or not): a password guesser gets
/// 10 tries per 15 minutes.
pub const FAILURES_PER_ACCOUNT: RateLimit = RateLimit {
    name: "login-account",
    max: 10,
    window_secs: 900,
};

pub enum LoginOutcome {
    LoggedIn {
        user: Box<User>,
        session: NewCredential,
    },
    Failed,
    Limited {
        retry_after: i64,
    },
}

fn account_subject(email: &str) -> String {
    sha256_hex(&email.trim().to_lowercase())
}

fn retry_after(verdict: Verdict) -> Option<i64> {
    match verdict {
        Verdict::Allowed => None,
        Verdict::Limited { retry_after } => Some(retry_after),
    }
}

/// Runs argon2id off the async workers: it is the most expensive thing a request does.
async fn verify(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => passwords::verify(&password, &stored),
        None => {
            passwords::verify_dummy(&password);
            false
        }
    })
    .await
    .map_err(|e| ApiError::Internal(format!("password check: {e}")))
}

pub async fn password_login(
    app: &AppInner,
    email: &str,
    password: &str,
    source_ip: &str,
) -> Result<LoginOutcome, ApiError> {
    let now = app.clock.unix();
    let store = app.state();
    let account = account_subject(email);
    for (limit, subject) in [
        (&FAILURES_PER_ADDRESS, source_ip),
        (&FAILURES_PER_ACCOUNT, account.as_str()),
    ] {
        if let Some(retry_after) = retry_after(limit.check(store, subject, now).await?) {
            return Ok(LoginOutcome::Limited { retry_after });
        }
    }
    // Bounded input to argon2id; a longer one cannot be a valid password anyway.
    let password = if password.len() > passwords::MAX_LEN * 4 {
        ""
    } else {
        password
    };
    let user = users::find_by_email(store, email).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let matched = verify(password.to_string(), stored).await?;
    match user {
        Some(user) if matched => {
            let session = sessions::start(app, user.id, now).await?;
            Ok(LoginOutcome::LoggedIn {
                user: Box::new(user),
                session,
            })
        }
        _ => {
            FAILURES_PER_ADDRESS.hit(store, source_ip, now).await?;
            FAILURES_PER_ACCOUNT.hit(store, &account, now).await?;
            Ok(LoginOutcome::Failed)
        }
    }
}
