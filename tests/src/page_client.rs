//! The admin UI as a browser without a script engine sees it: pages fetched with the session
//! cookie, forms posted urlencoded with our `Origin` and the page's `csrf_token` field,
//! redirects not followed (the tests check where they point).

use reqwest::header::{HeaderMap, CONTENT_TYPE, COOKIE, LOCATION, ORIGIN};
use reqwest::StatusCode;

use crate::harness::Flotilla;

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// Where a redirect points.
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    /// The `csrf_token` value the page's forms carry.
    pub fn csrf(&self) -> Option<String> {
        let at = self.body.find("name=\"csrf_token\" value=\"")?;
        let rest = &self.body[at + "name=\"csrf_token\" value=\"".len()..];
        rest.split('"').next().map(str::to_owned)
    }
}

/// A browser session: the session token (None: signed out).
pub struct Browser<'a> {
    pub f: &'a Flotilla,
    pub session: Option<String>,
    client: reqwest::Client,
}

impl<'a> Browser<'a> {
    pub fn new(f: &'a Flotilla, session: Option<String>) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Browser { f, session, client }
    }

    fn cookie(&self) -> Option<String> {
        self.session
            .as_ref()
            .map(|s| format!("__Host-flotilla_session={s}"))
    }

    async fn read(response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.expect("page body");
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let mut request = self.client.get(format!("{}{path}", self.f.base));
        if let Some(cookie) = self.cookie() {
            request = request.header(COOKIE, cookie);
        }
        Self::read(request.send().await.expect("GET page")).await
    }

    /// Posts a form as our own page would: our Origin, and the session's CSRF token (read
    /// from `/account`) unless the fields name one.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut fields: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if self.session.is_some() && !fields.iter().any(|(k, _)| k == "csrf_token") {
            let token = self.get("/account").await.csrf().expect("csrf token");
            fields.push(("csrf_token".into(), token));
        }
        self.post_raw(path, &fields, Some(&self.f.base.clone()))
            .await
    }

    /// Posts exactly these fields with this Origin (None: no Origin header).
    pub async fn post_raw(
        &self,
        path: &str,
        fields: &[(String, String)],
        origin: Option<&str>,
    ) -> Page {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = self
            .client
            .post(format!("{}{path}", self.f.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        if let Some(cookie) = self.cookie() {
            request = request.header(COOKIE, cookie);
        }
        Self::read(request.send().await.expect("POST form")).await
    }
}
