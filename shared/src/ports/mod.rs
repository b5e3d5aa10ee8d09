//! The narrow interfaces the use cases depend on, one per capability. Adapters (DynamoDB, STS+S3,
//! SQS, EventBridge, in-memory) implement them. Every method documents its errors.

mod messaging;
mod prober;
mod store;

pub use messaging::{EventPublisher, PublishError, QueueError, RevalidationQueue};
pub use prober::{
    AssumeRoleRequest, AwsEvidence, ConnectionProber, ProbeError, ProbeFailure,
    PutTestObjectRequest, SessionCredentials,
};
pub use store::{
    ActivityLog, ActivityPage, CheckHistory, CheckLock, CreateOutcome, DestinationRepository,
    DueIndex, DuePage, IdempotencyRecord, NewRecord, Outbox, OutboxPage, Page, RateLimitedAction,
    RateLimiter, RetryAfter, SideEffects, StoreError,
};
