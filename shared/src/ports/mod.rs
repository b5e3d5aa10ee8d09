//! The narrow interfaces the use cases depend on, one per capability. Adapters (DynamoDB, STS+S3,
//! SQS, EventBridge, in-memory) implement them. Every method documents its errors.

mod messaging;
mod source;
mod store;
mod writer;

pub use messaging::{DeliveryQueue, EventPublisher, PublishError, QueueError, RevalidationQueue};
pub use source::{InMemorySource, ObjectSource, SourceError, StagedFiles};
pub use store::{
    ActivityLog, ActivityPage, ActivityRecorder, CheckHistory, CheckKind, CheckLock, CheckSlot,
    CheckSlots, CreateOutcome, DeliveryPage, DeliveryRecords, DestinationRepository, DueDeliveries,
    DueDeliveryPage, DueIndex, DuePage, IdempotencyRecord, NewRecord, Outbox, OutboxPage, Page,
    RateLimitedAction, RateLimiter, Recorded, RetryAfter, SideEffects, StoreError, slot_indexes,
};
pub use writer::{
    AssumeRoleRequest, AwsEvidence, FullObjectChecksum, KmsRefusal, ObjectBody, ObjectTarget,
    ObjectWriter, ProbeError, ProbeFailure, SessionCredentials, UploadedPart, WrittenObject,
};
