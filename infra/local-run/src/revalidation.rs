//! Re-validation in-process: the scheduler on a timer and a worker draining the emulator's queue,
//! the same code the scheduler and worker Lambdas run. Every destination event is printed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use shared::adapters::eventbridge::EventBridgePublisher;
use shared::adapters::sqs::SqsQueue;
use shared::ports::{EventPublisher, PublishError};
use shared::revalidation::{Checker, ConnectionEvent, RevalidationSettings, enqueue_due};
use time::OffsetDateTime;

use crate::platform::LocalPlatform;

/// Forwards to the bus and prints what it forwards, so the event path is visible locally.
pub struct PrintingPublisher(pub EventBridgePublisher);

#[async_trait]
impl EventPublisher for PrintingPublisher {
    async fn publish(&self, event: &ConnectionEvent) -> Result<(), PublishError> {
        println!(
            "event: {} {}",
            event.detail_type(),
            serde_json::to_string(event).unwrap_or_default()
        );
        self.0.publish(event).await
    }
}

pub fn spawn(platform: Arc<LocalPlatform>, interval: Duration, settings: RevalidationSettings) {
    let scheduler = platform.clone();
    tokio::spawn(async move {
        let queue = SqsQueue::new(scheduler.sqs.clone(), scheduler.queue_url.clone());
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            match enqueue_due(
                scheduler.destinations.store.as_ref(),
                &queue,
                OffsetDateTime::now_utc(),
            )
            .await
            {
                Ok(0) => {}
                Ok(queued) => println!("re-validation: {queued} destination(s) queued"),
                Err(e) => eprintln!("re-validation scheduler: {e}"),
            }
        }
    });
    tokio::spawn(async move {
        let checker = Checker {
            store: platform.destinations.store.as_ref(),
            prober: &platform.test_connection.prober,
            publisher: &platform.publisher,
            principals: &platform.test_connection.principals,
            test_settings: platform.test_connection.settings,
            settings,
        };
        loop {
            let received = platform
                .sqs
                .receive_message()
                .queue_url(&platform.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await;
            let messages = match received {
                Ok(out) => out.messages.unwrap_or_default(),
                Err(e) => {
                    eprintln!("re-validation worker: {e}");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            };
            if messages.is_empty() {
                continue;
            }
            let mut event = SqsEvent::default();
            event.records = messages
                .iter()
                .map(|m| {
                    let mut record = SqsMessage::default();
                    record.message_id = m.message_id.clone();
                    record.body = m.body.clone();
                    record
                })
                .collect();
            let response = revalidate_worker::handler::handle(&checker, 8, event).await;
            // Failed messages stay on the queue and come back, as with the Lambda event source.
            for message in messages {
                let failed = response
                    .batch_item_failures
                    .iter()
                    .any(|f| Some(&f.item_identifier) == message.message_id.as_ref());
                if let (false, Some(handle)) = (failed, message.receipt_handle) {
                    let _ = platform
                        .sqs
                        .delete_message()
                        .queue_url(&platform.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await;
                }
            }
        }
    });
}
