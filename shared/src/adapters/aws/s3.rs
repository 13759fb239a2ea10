//! Blobs as S3 objects, optionally under a key prefix.

use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart as S3CompletedPart, Delete, ObjectIdentifier,
};
use aws_sdk_s3::Client;
use bytes::Bytes;
use std::time::Duration;

use crate::adapters::embedded::blobs::{check_part_list, check_part_number, validate_prefix};
use crate::ports::blobs::validate_name;
use crate::ports::{BlobError, BlobStore, CompletedPart};

/// S3's most keys in one DeleteObjects request.
const DELETE_BATCH: usize = 1000;

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

/// The error code S3 answered with, modeled by the SDK or not (several, such as
/// `NoSuchUpload` on UploadPart, reach us only as a code).
fn code<E, R>(e: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    e.as_service_error().and_then(|service| service.code())
}

/// A multipart call's failure as the port promises it: NoSuchUpload is `UploadNotFound`, a
/// refusal of the request itself `Rejected`, anything else (throttling, network) retryable.
fn multipart_error<E, R>(operation: &str, e: SdkError<E, R>) -> BlobError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match code(&e) {
        Some("NoSuchUpload") => BlobError::UploadNotFound,
        Some(refused @ ("EntityTooSmall" | "InvalidPart" | "InvalidPartOrder")) => {
            let message = e
                .as_service_error()
                .and_then(|service| service.message())
                .unwrap_or_default();
            BlobError::Rejected(format!("S3 {operation}: {refused}: {message}"))
        }
        _ => unavailable(operation, e),
    }
}

fn request_error(what: &str, e: impl std::fmt::Display) -> BlobError {
    BlobError::Unavailable(format!("S3 {what} request: {e}"))
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

    /// GetObject, whole or a `range` (`bytes=a-b`), collected into memory.
    async fn read(&self, name: &str, range: Option<String>) -> Result<Bytes, BlobError> {
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object_key(name)?)
            .set_range(range)
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
            // A range starting at or past the end (416): the port answers no bytes there.
            Err(e)
                if code(&e) == Some("InvalidRange")
                    || e.raw_response().map(|raw| raw.status().as_u16()) == Some(416) =>
            {
                Ok(Bytes::new())
            }
            Err(e) => Err(unavailable("GetObject", e)),
        }
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
        self.read(name, None).await
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

    async fn get_range(&self, name: &str, offset: u64, len: u64) -> Result<Bytes, BlobError> {
        validate_name(name)?;
        if len == 0 {
            // "bytes=N-(N-1)" is no range at all: S3 would answer the whole object.
            return Ok(Bytes::new());
        }
        let last = offset.saturating_add(len - 1);
        self.read(name, Some(format!("bytes={offset}-{last}")))
            .await
    }

    async fn size(&self, name: &str) -> Result<u64, BlobError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.object_key(name)?)
            .send()
            .await;
        match head {
            Ok(head) => head
                .content_length()
                .and_then(|length| u64::try_from(length).ok())
                .ok_or_else(|| {
                    BlobError::Unavailable("S3 HeadObject: no Content-Length".to_string())
                }),
            // HEAD answers have no body, so a missing key is only the status: NotFound.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => {
                Err(BlobError::NotFound)
            }
            Err(e) => Err(unavailable("HeadObject", e)),
        }
    }

    async fn delete_many(&self, names: &[String]) -> Result<(), BlobError> {
        // Every name is checked before anything is deleted, so a bad one deletes nothing.
        let keys = names
            .iter()
            .map(|name| self.object_key(name))
            .collect::<Result<Vec<_>, _>>()?;
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|key| {
                    ObjectIdentifier::builder()
                        .key(key)
                        .build()
                        .map_err(|e| request_error("DeleteObjects", e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| request_error("DeleteObjects", e))?;
            let answer = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| unavailable("DeleteObjects", e))?;
            // The request succeeds even when keys fail (throttling, an internal error):
            // those come back one by one, and the whole call is worth retrying.
            if let Some(first) = answer.errors().first() {
                return Err(BlobError::Unavailable(format!(
                    "S3 DeleteObjects: {} of {} keys not deleted, first {}: {} {}",
                    answer.errors().len(),
                    batch.len(),
                    first.key().unwrap_or_default(),
                    first.code().unwrap_or_default(),
                    first.message().unwrap_or_default(),
                )));
            }
        }
        Ok(())
    }

    async fn create_multipart(&self, name: &str) -> Result<String, BlobError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(self.object_key(name)?)
            .send()
            .await
            .map_err(|e| unavailable("CreateMultipartUpload", e))?;
        created.upload_id().map(str::to_string).ok_or_else(|| {
            BlobError::Unavailable("S3 CreateMultipartUpload: no upload id".to_string())
        })
    }

    async fn upload_part(
        &self,
        name: &str,
        upload_id: &str,
        number: u32,
        body: Bytes,
    ) -> Result<String, BlobError> {
        let key = self.object_key(name)?;
        check_part_number(number)?;
        let part_number = i32::try_from(number)
            .map_err(|_| BlobError::Rejected(format!("part number {number}")))?;
        let uploaded = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| multipart_error("UploadPart", e))?;
        uploaded
            .e_tag()
            .map(str::to_string)
            .ok_or_else(|| BlobError::Unavailable("S3 UploadPart: no ETag".to_string()))
    }

    async fn complete_multipart(
        &self,
        name: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<(), BlobError> {
        let key = self.object_key(name)?;
        // S3 would refuse these too, but as MalformedXML or InvalidArgument, which say
        // nothing certain about the request: checked here, they are `Rejected` as locally.
        check_part_list(parts)?;
        let parts = parts
            .iter()
            .map(|part| {
                let number = i32::try_from(part.number)
                    .map_err(|_| BlobError::Rejected(format!("part number {}", part.number)))?;
                Ok(S3CompletedPart::builder()
                    .part_number(number)
                    .e_tag(&part.etag)
                    .build())
            })
            .collect::<Result<Vec<_>, BlobError>>()?;
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| multipart_error("CompleteMultipartUpload", e))?;
        Ok(())
    }

    async fn abort_multipart(&self, name: &str, upload_id: &str) -> Result<(), BlobError> {
        let aborted = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(self.object_key(name)?)
            .upload_id(upload_id)
            .send()
            .await;
        match aborted {
            Ok(_) => Ok(()),
            Err(e) => match multipart_error("AbortMultipartUpload", e) {
                BlobError::UploadNotFound => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn presigned_get(
        &self,
        name: &str,
        expires_in: Duration,
    ) -> Result<Option<String>, BlobError> {
        let key = self.object_key(name)?;
        // SigV4 allows at most 7 days; asking for more is a mistake no retry fixes.
        let config = PresigningConfig::expires_in(expires_in)
            .map_err(|e| BlobError::Rejected(format!("presigned URL lifetime: {e}")))?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| unavailable("GetObject presigning", e))?;
        Ok(Some(presigned.uri().to_string()))
    }
}
