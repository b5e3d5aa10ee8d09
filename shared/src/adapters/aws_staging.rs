//! The platform's staging bucket as an [`ObjectSource`]: a staged file is read front to back from
//! one GetObject, as the bytes arrive, so a delivery never holds more than the part it is sending.
//! Read with the function's own identity (never a customer's session).

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::domain::delivery::StagedSource;
use crate::ports::{ObjectSource, SourceError, StagedFiles};

/// Opens staged objects.
#[derive(Clone)]
pub struct StagingBucket {
    s3: aws_sdk_s3::Client,
}

impl StagingBucket {
    pub fn new(s3: aws_sdk_s3::Client) -> Self {
        Self { s3 }
    }

    /// Reads as the identity of `config` (the function's own).
    pub fn from_config(config: &aws_config::SdkConfig, force_path_style: bool) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(force_path_style)
            .build();
        Self::new(aws_sdk_s3::Client::from_conf(s3))
    }

    /// Starts reading `bucket`/`key`.
    ///
    /// # Errors
    /// `NotFound` for a missing object or bucket, `Unavailable` for anything else.
    pub async fn open(&self, bucket: &str, key: &str) -> Result<StagedObject, SourceError> {
        let output = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| match &e {
                SdkError::ServiceError(context)
                    if matches!(context.err().code(), Some("NoSuchKey" | "NoSuchBucket")) =>
                {
                    SourceError::NotFound
                }
                _ => SourceError::Unavailable(Box::new(e)),
            })?;
        let size = output
            .content_length
            .and_then(|n| u64::try_from(n).ok())
            .ok_or(SourceError::Changed)?;
        Ok(StagedObject {
            size,
            body: output.body,
            pending: Bytes::new(),
        })
    }
}

impl StagedFiles for StagingBucket {
    type Source = StagedObject;

    async fn open(&self, source: &StagedSource) -> Result<StagedObject, SourceError> {
        StagingBucket::open(self, source.bucket.as_str(), &source.key).await
    }
}

/// A staged object being read.
pub struct StagedObject {
    size: u64,
    body: ByteStream,
    /// What arrived beyond the last chunk handed out.
    pending: Bytes,
}

impl ObjectSource for StagedObject {
    fn size(&self) -> u64 {
        self.size
    }

    async fn next_chunk(&mut self, max: usize) -> Result<Bytes, SourceError> {
        // An empty frame is not the end: only the stream's end is.
        while self.pending.is_empty() {
            match self.body.next().await {
                None => return Ok(Bytes::new()),
                Some(chunk) => {
                    self.pending = chunk.map_err(|e| SourceError::Unavailable(Box::new(e)))?;
                }
            }
        }
        let take = max.min(self.pending.len());
        Ok(self.pending.split_to(take))
    }
}
