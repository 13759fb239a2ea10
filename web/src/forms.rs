//! A page's posted form, parsed into its struct; a malformed one is a 400 page.

use axum::extract::{FromRequest, Request};
use flotilla::error::ApiError;
use serde::de::DeserializeOwned;

pub struct PageForm<T>(pub T);

impl<S, T> FromRequest<S> for PageForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        axum::Form::<T>::from_request(request, state)
            .await
            .map(|axum::Form(value)| PageForm(value))
            .map_err(|e| {
                ApiError::bad_request(format!("the form could not be read: {}", e.body_text()))
            })
    }
}

/// Whether a domain refusal is about what was typed (a bad value, a name already taken), to
/// show on the form sent back, rather than an error page (not allowed, not found, a failure).
pub fn form_problem(error: &flotilla::error::ApiError) -> bool {
    use flotilla::error::ApiError;
    matches!(error, ApiError::BadRequest(_) | ApiError::Conflict(_))
}

/// A page's posted form as its (name, value) pairs in order, for forms that repeat a name
/// (a checkbox per row) which `PageForm`'s structs cannot hold.
pub struct PageFields(pub Vec<(String, String)>);

impl<S> FromRequest<S> for PageFields
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("the form could not be read: {e}")))?;
        Ok(PageFields(
            url::form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}
