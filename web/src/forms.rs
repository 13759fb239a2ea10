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
