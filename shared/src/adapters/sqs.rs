//! The re-validation and delivery queues on SQS.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use serde::Serialize;

use crate::domain::delivery::DeliveryRef;
use crate::domain::revalidation::RevalidationRequest;
use crate::ports::{DeliveryQueue, QueueError, RevalidationQueue};

/// SQS takes at most ten messages per batch.
const BATCH: usize = 10;

pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub fn from_config(config: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        Self::new(Client::new(config), queue_url)
    }
}

fn queue_error(message: impl Into<String>) -> QueueError {
    QueueError(message.into().into())
}

impl SqsQueue {
    /// Sends `messages` as JSON, ten per batch.
    async fn send<T: Serialize>(&self, messages: &[T]) -> Result<(), QueueError> {
        for chunk in messages.chunks(BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (index, message) in chunk.iter().enumerate() {
                let body = serde_json::to_string(message).map_err(|e| QueueError(Box::new(e)))?;
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| QueueError(Box::new(e)))?,
                );
            }
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError(Box::new(e)))?;
            if !output.failed.is_empty() {
                let codes: Vec<&str> = output.failed.iter().map(|f| f.code.as_str()).collect();
                return Err(queue_error(format!(
                    "SendMessageBatch refused {} messages: {codes:?}",
                    codes.len()
                )));
            }
        }
        Ok(())
    }
}

/// SQS's longest message delay.
const MAX_DELAY_SECONDS: u64 = 900;

impl RevalidationQueue for SqsQueue {
    async fn enqueue(&self, requests: &[RevalidationRequest]) -> Result<(), QueueError> {
        self.send(requests).await
    }

    async fn defer(
        &self,
        request: &RevalidationRequest,
        delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        let body = serde_json::to_string(request).map_err(|e| QueueError(Box::new(e)))?;
        let seconds = delay.as_secs().min(MAX_DELAY_SECONDS);
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(i32::try_from(seconds).unwrap_or(0))
            .send()
            .await
            .map_err(|e| QueueError(Box::new(e)))?;
        Ok(())
    }
}

impl DeliveryQueue for SqsQueue {
    async fn enqueue_deliveries(&self, deliveries: &[DeliveryRef]) -> Result<(), QueueError> {
        self.send(deliveries).await
    }
}
