//! A real OpenID provider on loopback for single sign-on tests: npm's `oidc-provider` run by
//! `tests/oidc/provider.mjs` (`node`, Node.js 20 or later), one process per [`OidcProvider`],
//! killed when it is dropped. Its packages come from `npm ci --prefix tests/oidc` (tests/run
//! does it); without them, or without `node`, the tests fail: they never skip silently.
//!
//! Sign-in goes through the provider's development login pages, where the login is an
//! account's email (or `sub`) and any password is accepted.

use reqwest::redirect::Policy;
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, ChildStdin, Command};

const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A client registered at the provider.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
}

/// A user who can sign in at the provider.
#[derive(Debug, Clone)]
pub struct Account {
    pub sub: String,
    /// Empty: the provider shares no email address for the account.
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
}

impl Account {
    pub fn new(sub: &str, email: &str, email_verified: bool, name: Option<&str>) -> Self {
        Self {
            sub: sub.into(),
            email: email.into(),
            email_verified,
            name: name.map(Into::into),
        }
    }
}

/// The provider's settings (see tests/oidc/provider.mjs).
#[derive(Debug, Clone, Default)]
pub struct ProviderOptions {
    pub clients: Vec<Client>,
    /// [`default_accounts`] when empty.
    pub accounts: Vec<Account>,
    /// Email and name in the ID token too; otherwise only from the userinfo endpoint.
    pub claims_in_id_token: bool,
    pub id_token_ttl_secs: Option<u64>,
    /// Seconds added to the provider's clock (negative: it runs late).
    pub clock_skew_secs: Option<i64>,
    /// Signs ID tokens for this audience instead of the client's.
    pub id_token_audience: Option<String>,
}

/// alice@example.com (verified, named), bob@example.com (unverified, no name), and carol-sub
/// (no email; sign in with the sub).
pub fn default_accounts() -> Vec<Account> {
    vec![
        Account::new("alice-sub", "alice@example.com", true, Some("Alice Admin")),
        Account::new("bob-sub", "bob@example.com", false, None),
        Account::new("carol-sub", "", false, Some("Carol")),
    ]
}

pub struct OidcProvider {
    port: u16,
    issuer: String,
    settings: Value,
    child: Child,
    // Held open: the provider exits when it closes, should this process die without dropping.
    _stdin: ChildStdin,
    stderr: Arc<Mutex<String>>,
    /// How long the last start took, until READY.
    pub started_in: Duration,
}

impl OidcProvider {
    /// One client, the default accounts.
    pub async fn start(client_id: &str, client_secret: &str, redirect_uris: &[&str]) -> Self {
        Self::start_with(ProviderOptions {
            clients: vec![Client {
                client_id: client_id.into(),
                client_secret: client_secret.into(),
                redirect_uris: redirect_uris.iter().map(|uri| uri.to_string()).collect(),
            }],
            ..ProviderOptions::default()
        })
        .await
    }

    pub async fn start_with(options: ProviderOptions) -> Self {
        let port = free_port();
        let accounts = if options.accounts.is_empty() {
            default_accounts()
        } else {
            options.accounts
        };
        let mut settings = json!({
            "port": port,
            "clients": options.clients.iter().map(|client| json!({
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                "redirect_uris": client.redirect_uris,
            })).collect::<Vec<_>>(),
            "accounts": accounts.iter().map(|account| json!({
                "sub": account.sub,
                "email": account.email,
                "email_verified": account.email_verified,
                "name": account.name,
            })).collect::<Vec<_>>(),
            "claimsInIdToken": options.claims_in_id_token,
            "exitWithStdin": true,
        });
        if let Some(ttl) = options.id_token_ttl_secs {
            settings["idTokenTtl"] = json!(ttl);
        }
        if let Some(skew) = options.clock_skew_secs {
            settings["clockSkew"] = json!(skew);
        }
        if let Some(audience) = options.id_token_audience {
            settings["idTokenAudience"] = json!(audience);
        }
        let (child, stdin, stderr, issuer, started_in) = spawn(&settings).await;
        Self {
            port,
            issuer,
            settings,
            child,
            _stdin: stdin,
            stderr,
            started_in,
        }
    }

    /// The issuer, `http://127.0.0.1:<port>` (no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the provider wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Stops the provider and starts it again on the same port with the same settings: a new
    /// signing key (a key rotation), and every code, session and grant forgotten.
    pub async fn restart(&mut self) {
        self.child.kill().await.expect("stop the OpenID provider");
        let (child, stdin, stderr, issuer, started_in) = spawn(&self.settings).await;
        assert_eq!(issuer, self.issuer, "the restarted provider's issuer");
        self.child = child;
        self._stdin = stdin;
        self.stderr = stderr;
        self.started_in = started_in;
    }

    /// Requests the provider has seen for `path` since it (re)started.
    pub async fn request_count(&self, path: &str) -> u64 {
        let counts: Value = reqwest::get(format!("{}/__test/requests", self.issuer))
            .await
            .and_then(|response| response.error_for_status())
            .expect("the provider's request counts")
            .json()
            .await
            .expect("request counts as JSON");
        counts[path].as_u64().unwrap_or(0)
    }

    /// Signs in as `login` (an account's email or sub) starting from `authorization_url`: logs
    /// in and consents on the provider's pages with a fresh cookie jar, following the
    /// provider's redirects, and returns the URL of the first redirect that leaves the provider
    /// (the client's redirect URI with `code` and `state`, or with `error`) without requesting
    /// it.
    pub async fn sign_in(&self, authorization_url: &str, login: &str) -> String {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client");
        let provider = Url::parse(&self.issuer).expect("the issuer is a URL");
        let mut url = Url::parse(authorization_url).expect("the authorization URL is a URL");
        let mut response = browser.get(url.clone()).send().await;
        for _ in 0..20 {
            let answer = response.unwrap_or_else(|e| panic!("requesting {url}: {e}"));
            let status = answer.status();
            if status.is_redirection() {
                let location = answer
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_else(|| panic!("a {status} without Location from {url}"));
                let next = url
                    .join(location)
                    .unwrap_or_else(|e| panic!("Location {location:?} from {url}: {e}"));
                if next.origin() != provider.origin() {
                    return next.to_string();
                }
                url = next;
                response = browser.get(url.clone()).send().await;
                continue;
            }
            let body = answer.text().await.unwrap_or_default();
            assert_eq!(
                status,
                StatusCode::OK,
                "the provider's answer at {url}:\n{body}\nits stderr:\n{}",
                self.stderr()
            );
            let action = form_action(&body)
                .unwrap_or_else(|| panic!("no form in the page at {url}:\n{body}"));
            let form: Vec<(&str, &str)> = match hidden_prompt(&body).as_deref() {
                Some("login") => vec![
                    ("prompt", "login"),
                    ("login", login),
                    ("password", "any password"),
                ],
                Some("consent") => vec![("prompt", "consent")],
                other => panic!("unexpected prompt {other:?} at {url}:\n{body}"),
            };
            url = url
                .join(&action)
                .unwrap_or_else(|e| panic!("form action {action:?} at {url}: {e}"));
            response = browser.post(url.clone()).form(&form).send().await;
        }
        panic!("signing in as {login} did not leave the provider within 20 steps (last: {url}); an unknown login is asked for again");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free local port")
        .port()
}

fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

async fn spawn(settings: &Value) -> (Child, ChildStdin, Arc<Mutex<String>>, String, Duration) {
    let dir = provider_dir();
    assert!(
        dir.join("node_modules/oidc-provider").is_dir(),
        "the test OpenID provider's packages are missing: run `npm ci --prefix tests/oidc` (tests/run does it)"
    );
    let started = Instant::now();
    let mut child = Command::new("node")
        .arg(dir.join("provider.mjs"))
        .arg(settings.to_string())
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run `node` (Node.js 20 or later is needed for the test OpenID provider): {e}")
        });
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr_text = Arc::new(Mutex::new(String::new()));
    collect(
        child.stderr.take().expect("piped stderr"),
        stderr_text.clone(),
    );

    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(START_TIMEOUT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(issuer) = line.strip_prefix("READY ") {
                return Some(issuer.trim().to_string());
            }
        }
        None
    })
    .await;
    let Ok(Some(issuer)) = ready else {
        let _ = child.kill().await;
        // Let the stderr reader take in the last of it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stderr = stderr_text
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        panic!(
            "the test OpenID provider (node tests/oidc/provider.mjs) did not print READY within {} s; its stderr:\n{stderr}",
            START_TIMEOUT.as_secs()
        );
    };
    let started_in = started.elapsed();
    // Keep reading stdout so that the provider never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, stdin, stderr_text, issuer, started_in)
}

fn collect(stream: impl AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut text = into.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            text.push_str(&line);
            text.push('\n');
        }
    });
}

/// The `action` of the page's form, HTML entities undone.
fn form_action(html: &str) -> Option<String> {
    let form = &html[html.find("<form")?..];
    attribute(form, "action")
}

/// The value of the hidden `prompt` input of devInteractions' forms.
fn hidden_prompt(html: &str) -> Option<String> {
    let input = &html[html.find("name=\"prompt\"")?..];
    attribute(input, "value")
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = start + tag[start..].find('"')?;
    Some(
        tag[start..end]
            .replace("&#x2F;", "/")
            .replace("&#47;", "/")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}
