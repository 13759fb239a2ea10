//! Blobs as S3 objects, optionally under a key prefix.

use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use bytes::Bytes;

use crate::adapters::embedded::blobs::validate_prefix;
use crate::ports::blobs::validate_name;
use crate::ports::{BlobError, BlobStore};

/// The S3 `BlobStore`: blob `name` is object `<prefix><name>` in `bucket`.
#[derive(Debug, Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
    prefix: String,
}

fn unavailable<E, R>(operation: &str, e: SdkError<E, R>) -> BlobError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    BlobError::Unavailable(format!("S3 {operation}: {}", DisplayErrorContext(&e)))
}

impl S3Blobs {
    /// `prefix` is prepended to every name (a slash is added if it lacks one); "" for none.
    pub fn new(client: Client, bucket: impl Into<String>, prefix: &str) -> Self {
        let prefix = match prefix {
            "" => String::new(),
            p if p.ends_with('/') => p.to_string(),
            p => format!("{p}/"),
        };
        S3Blobs {
            client,
            bucket: bucket.into(),
            prefix,
        }
    }

    fn object_key(&self, name: &str) -> Result<String, BlobError> {
        validate_name(name)?;
        Ok(format!("{}{name}", self.prefix))
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, name: &str, body: Bytes) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.object_key(name)?)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| unavailable("PutObject", e))?;
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Bytes, BlobError> {
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object_key(name)?)
            .send()
            .await;
        match got {
            Ok(object) => object
                .body
                .collect()
                .await
                .map(|data| data.into_bytes())
                .map_err(|e| BlobError::Unavailable(format!("S3 GetObject body: {e}"))),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                Err(BlobError::NotFound)
            }
            Err(e) => Err(unavailable("GetObject", e)),
        }
    }

    async fn delete(&self, name: &str) -> Result<(), BlobError> {
        // S3 answers a delete of a missing key with success too.
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.object_key(name)?)
            .send()
            .await
            .map_err(|e| unavailable("DeleteObject", e))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        validate_prefix(prefix)?;
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(format!("{}{prefix}", self.prefix))
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| unavailable("ListObjectsV2", e))?;
            for object in page.contents() {
                if let Some(name) = object.key().and_then(|key| key.strip_prefix(&self.prefix)) {
                    names.push(name.to_string());
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated().unwrap_or(false) => {
                    token = Some(next.to_string())
                }
                _ => break,
            }
        }
        // S3 lists in UTF-8 byte order already; sorting keeps the promise whatever the backend.
        names.sort_unstable();
        Ok(names)
    }
}
