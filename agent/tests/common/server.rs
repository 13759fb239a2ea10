//! A static file server on loopback: axum for the routing, axum-server (tokio-rustls) for TLS.
//! It serves a directory as it is on disk at each request, so tests publish, tamper with or
//! remove files while it runs, and it counts requests per path.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

struct Shared {
    dir: PathBuf,
    hits: Mutex<HashMap<String, usize>>,
}

pub struct FileServer {
    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub url: String,
    handle: axum_server::Handle<SocketAddr>,
    shared: Arc<Shared>,
}

async fn serve_file(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/').to_owned();
    if let Ok(mut hits) = shared.hits.lock() {
        *hits.entry(path.clone()).or_default() += 1;
    }
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(shared.dir.join(&path)).await {
        Ok(bytes) => bytes.into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

impl FileServer {
    pub fn http(dir: impl Into<PathBuf>) -> Self {
        Self::start(dir.into(), None)
    }

    pub fn https(dir: impl Into<PathBuf>, tls: Arc<rustls::ServerConfig>) -> Self {
        Self::start(dir.into(), Some(tls))
    }

    fn start(dir: PathBuf, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let address = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            dir,
            hits: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .fallback(serve_file)
            .with_state(shared.clone());
        let handle = axum_server::Handle::new();
        let scheme = if tls.is_some() { "https" } else { "http" };
        match tls {
            None => {
                let server = axum_server::from_tcp(listener)
                    .expect("listener")
                    .handle(handle.clone());
                tokio::spawn(server.serve(app.into_make_service()));
            }
            Some(config) => {
                let config = axum_server::tls_rustls::RustlsConfig::from_config(config);
                let server = axum_server::tls_rustls::from_tcp_rustls(listener, config)
                    .expect("listener")
                    .handle(handle.clone());
                tokio::spawn(server.serve(app.into_make_service()));
            }
        }
        FileServer {
            url: format!("{scheme}://{address}"),
            handle,
            shared,
        }
    }

    /// How many requests asked for `path` (relative, e.g. `targets/osqueryd/linux/stable/osqueryd`).
    pub fn hits(&self, path: &str) -> usize {
        self.shared
            .hits
            .lock()
            .map(|hits| hits.get(path).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// A loopback URL nothing listens on.
pub fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{address}")
}
