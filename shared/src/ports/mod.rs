//! The narrow interfaces the use cases depend on, one per capability. Adapters (DynamoDB, STS+S3,
//! SQS, EventBridge, in-memory) implement them. Every method documents its errors.

mod messaging;
mod source;
mod store;
mod writer;

pub use messaging::{EventPublisher, PublishError, QueueError, RevalidationQueue};
pub use source::{InMemorySource, ObjectSource, SourceError};
pub use store::{
    ActivityLog, ActivityPage, CheckHistory, CheckLock, CreateOutcome, DestinationRepository,
    DueIndex, DuePage, IdempotencyRecord, NewRecord, Outbox, OutboxPage, Page, RateLimitedAction,
    RateLimiter, RetryAfter, SideEffects, StoreError,
};
pub use writer::{
    AssumeRoleRequest, AwsEvidence, FullObjectChecksum, ObjectBody, ObjectTarget, ObjectWriter,
    ProbeError, ProbeFailure, SessionCredentials, UploadedPart, WrittenObject,
};
