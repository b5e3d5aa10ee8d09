//! Reading an object's bytes in order, without holding the whole object: the staged files a
//! delivery copies, and the in-memory bodies of tests.

use std::future::Future;

use thiserror::Error;

use crate::domain::delivery::StagedSource;

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("the staged object is gone")]
    NotFound,
    /// Read fewer or more bytes than the size it announced.
    #[error("the staged object changed while it was read")]
    Changed,
    #[error("the staged object could not be read")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// An object being read front to back.
pub trait ObjectSource: Send {
    /// Its size in bytes, known before the first read.
    fn size(&self) -> u64;

    /// The next bytes, at most `max` of them; empty only at the end.
    ///
    /// # Errors
    /// [`SourceError`].
    fn next_chunk(
        &mut self,
        max: usize,
    ) -> impl Future<Output = Result<bytes::Bytes, SourceError>> + Send;
}

/// Where exporters stage the files they ask us to deliver.
pub trait StagedFiles: Send + Sync {
    type Source: ObjectSource;

    /// Starts reading a staged file.
    ///
    /// # Errors
    /// `NotFound` when it is gone (staged files expire), `Unavailable`.
    fn open(
        &self,
        source: &StagedSource,
    ) -> impl Future<Output = Result<Self::Source, SourceError>> + Send;
}

/// A source over bytes already in memory (a test object, a test's body).
pub struct InMemorySource(pub bytes::Bytes);

impl ObjectSource for InMemorySource {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }

    async fn next_chunk(&mut self, max: usize) -> Result<bytes::Bytes, SourceError> {
        let take = max.min(self.0.len());
        Ok(self.0.split_to(take))
    }
}
