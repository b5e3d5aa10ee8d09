//! What Lambda's event sources do for the deployed functions, done for the emulated ones: the
//! table's stream feeds `revalidate-on-change` and `publish-events` (filtered by the patterns in
//! `template.yaml`, retried and then parked as the template says), the queues feed the
//! re-validation worker and the deliver function, and the schedules run the scheduler and the
//! sweeps.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use serde_json::{Value, json};

use crate::platform::EmulatedPlatform;
use crate::services::{ON_CHANGE, PUBLISH_EVENTS, Services};
use crate::template;

/// One function's stream event source, as the template declares it.
struct StreamMapping {
    function: &'static str,
    event_names: Vec<String>,
    sort_key_prefix: String,
    max_retries: u32,
    /// Per shard: the last sequence number handed over (or skipped).
    positions: HashMap<String, String>,
    /// Failed attempts at the current batch.
    failures: u32,
}

impl StreamMapping {
    /// Reads the event's filter from the template; a pattern of another shape fails loudly.
    fn from_template(template: &Value, function: &'static str) -> Self {
        let events = template::resource(template, function)["Properties"]["Events"]
            .as_object()
            .expect("Events");
        let (_, event) = events
            .iter()
            .find(|(_, e)| e["Type"] == "DynamoDB")
            .unwrap_or_else(|| panic!("{function} has no DynamoDB event"));
        let pattern: Value = serde_json::from_str(
            event["Properties"]["FilterCriteria"]["Filters"][0]["Pattern"]
                .as_str()
                .expect("a filter pattern"),
        )
        .expect("the pattern is JSON");
        let event_names = pattern["eventName"]
            .as_array()
            .expect("eventName in the pattern")
            .iter()
            .map(|n| n.as_str().expect("a name").to_owned())
            .collect();
        let sort_key_prefix = pattern["dynamodb"]["Keys"]["SK"]["S"][0]["prefix"]
            .as_str()
            .expect("an SK prefix in the pattern")
            .to_owned();
        Self {
            function,
            event_names,
            sort_key_prefix,
            max_retries: event["Properties"]["MaximumRetryAttempts"]
                .as_u64()
                .unwrap_or(0) as u32,
            positions: HashMap::new(),
            failures: 0,
        }
    }

    fn matches(&self, record: &Value) -> bool {
        let name = record["eventName"].as_str().unwrap_or_default();
        let sort_key = record["dynamodb"]["Keys"]["SK"]["S"]
            .as_str()
            .unwrap_or_default();
        self.event_names.iter().any(|n| n == name) && sort_key.starts_with(&self.sort_key_prefix)
    }
}

/// What one round of pumping handed over.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pumped {
    pub stream_records: usize,
    pub messages: usize,
    pub delivery_messages: usize,
    /// Batches that failed every retry and went to the failed-invocations queue.
    pub parked: usize,
}

pub struct Dispatcher {
    streams: aws_sdk_dynamodbstreams::Client,
    sqs: aws_sdk_sqs::Client,
    stream_arn: Option<String>,
    queue_url: String,
    delivery_queue_url: String,
    failed_queue_url: String,
    observer_queue_url: String,
    mappings: Mutex<Vec<StreamMapping>>,
}

impl Dispatcher {
    pub fn new(platform: &EmulatedPlatform) -> Self {
        Self {
            // Lambda's event sources act with their own rights: the account admin plays them.
            streams: aws_sdk_dynamodbstreams::Client::new(&platform.account.admin),
            sqs: platform.account.sqs(),
            stream_arn: platform.table_stream_arn.clone(),
            queue_url: platform.queue_url.clone(),
            delivery_queue_url: platform.delivery_queue_url.clone(),
            failed_queue_url: platform.failed_invocations_queue_url.clone(),
            observer_queue_url: platform.observer_queue_url.clone(),
            mappings: Mutex::new(vec![
                StreamMapping::from_template(&platform.template, ON_CHANGE),
                StreamMapping::from_template(&platform.template, PUBLISH_EVENTS),
            ]),
        }
    }

    /// Delivers the whole stream again from its start, as a redelivering event source would.
    pub fn rewind_streams(&self) {
        for mapping in self.mappings.lock().expect("mappings").iter_mut() {
            mapping.positions.clear();
            mapping.failures = 0;
        }
    }

    /// Pumps streams and queue until a round hands over nothing (or `rounds` run out).
    pub async fn settle(&self, services: &Services) -> Pumped {
        let mut total = Pumped::default();
        for _ in 0..20 {
            let round = self.pump(services).await;
            total.stream_records += round.stream_records;
            total.messages += round.messages;
            total.delivery_messages += round.delivery_messages;
            total.parked += round.parked;
            if round.stream_records == 0 && round.messages == 0 && round.delivery_messages == 0 {
                break;
            }
        }
        total
    }

    /// One round: new stream records to their functions, then queued checks to the worker and
    /// queued deliveries to the deliver function.
    pub async fn pump(&self, services: &Services) -> Pumped {
        let (stream_records, parked) = self.pump_streams(services).await;
        let messages = self.pump_queue(services).await;
        let delivery_messages = self.pump_deliveries(services).await;
        Pumped {
            stream_records,
            messages,
            delivery_messages,
            parked,
        }
    }

    async fn read_shard(&self, shard: &str, after: Option<&String>) -> Vec<Value> {
        let stream_arn = self.stream_arn.as_deref().expect("a table with a stream");
        let mut request = self
            .streams
            .get_shard_iterator()
            .stream_arn(stream_arn)
            .shard_id(shard);
        request = match after {
            Some(sequence) => request
                .shard_iterator_type(
                    aws_sdk_dynamodbstreams::types::ShardIteratorType::AfterSequenceNumber,
                )
                .sequence_number(sequence),
            None => request.shard_iterator_type(
                aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon,
            ),
        };
        let mut iterator = request
            .send()
            .await
            .expect("GetShardIterator")
            .shard_iterator;
        let mut records = Vec::new();
        while let Some(current) = iterator {
            let output = self
                .streams
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .expect("GetRecords");
            let batch = output.records.unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            records.extend(batch.into_iter().map(lambda_record));
            iterator = output.next_shard_iterator;
        }
        records
    }

    async fn pump_streams(&self, services: &Services) -> (usize, usize) {
        let Some(stream_arn) = &self.stream_arn else {
            return (0, 0);
        };
        let shards: Vec<String> = self
            .streams
            .describe_stream()
            .stream_arn(stream_arn)
            .send()
            .await
            .expect("DescribeStream")
            .stream_description
            .and_then(|d| d.shards)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| s.shard_id)
            .collect();
        let mut handed = 0;
        let mut parked = 0;
        let count = self.mappings.lock().expect("mappings").len();
        for index in 0..count {
            for shard in &shards {
                let after = self.mappings.lock().expect("mappings")[index]
                    .positions
                    .get(shard)
                    .cloned();
                let records = self.read_shard(shard, after.as_ref()).await;
                let Some(last) = records
                    .last()
                    .map(|r| r["dynamodb"]["SequenceNumber"].clone())
                else {
                    continue;
                };
                let (function, matching) = {
                    let mappings = self.mappings.lock().expect("mappings");
                    let mapping = &mappings[index];
                    (
                        mapping.function,
                        records
                            .into_iter()
                            .filter(|r| mapping.matches(r))
                            .collect::<Vec<_>>(),
                    )
                };
                let delivered = if matching.is_empty() {
                    Delivered::All
                } else {
                    handed += matching.len();
                    self.invoke(services, function, &matching).await
                };
                let park = {
                    let mut mappings = self.mappings.lock().expect("mappings");
                    let mapping = &mut mappings[index];
                    let failed = !matches!(delivered, Delivered::All);
                    let position = match delivered {
                        Delivered::All => Some(last.as_str().unwrap_or_default().to_owned()),
                        Delivered::UpTo(sequence) => sequence,
                        Delivered::Nothing => None,
                    };
                    if failed {
                        mapping.failures += 1;
                    } else {
                        mapping.failures = 0;
                    }
                    if failed && mapping.failures > mapping.max_retries {
                        // Retries used up: Lambda parks the batch on the failure destination and
                        // moves on.
                        mapping.failures = 0;
                        mapping
                            .positions
                            .insert(shard.clone(), last.as_str().unwrap_or_default().to_owned());
                        true
                    } else {
                        if let Some(position) = position {
                            mapping.positions.insert(shard.clone(), position);
                        }
                        false
                    }
                };
                if park {
                    parked += 1;
                    self.sqs
                        .send_message()
                        .queue_url(&self.failed_queue_url)
                        .message_body(json!({"function": function, "shard": shard}).to_string())
                        .send()
                        .await
                        .expect("SendMessage to the failed-invocations queue");
                }
            }
        }
        (handed, parked)
    }

    async fn invoke(&self, services: &Services, function: &str, records: &[Value]) -> Delivered {
        let event: StreamEvent =
            serde_json::from_value(json!({ "Records": records })).expect("a stream event");
        match function {
            ON_CHANGE => match Box::pin(revalidate_on_change::handler::handle(
                &services.on_change,
                event,
            ))
            .await
            {
                Ok(_) => Delivered::All,
                Err(_) => Delivered::Nothing,
            },
            PUBLISH_EVENTS => {
                let (outbox, publisher) = &services.publisher;
                let response = Box::pin(publish_events::handler::publish_records(
                    outbox, publisher, event,
                ))
                .await;
                match response.batch_item_failures.first() {
                    None => Delivered::All,
                    Some(failure) => {
                        let failed = failure.item_identifier.clone().unwrap_or_default();
                        let before = records
                            .iter()
                            .map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap_or_default())
                            .take_while(|s| *s != failed)
                            .last()
                            .map(str::to_owned);
                        Delivered::UpTo(before)
                    }
                }
            }
            other => panic!("no stream function {other}"),
        }
    }

    /// Queued checks to the worker, a batch at a time; failed messages become visible again.
    pub async fn pump_queue(&self, services: &Services) -> usize {
        let worker = &services.worker;
        self.pump_sqs(&self.queue_url, 10, |event| async move {
            Box::pin(revalidate_worker::handler::handle(
                &worker.checker(),
                worker.concurrency,
                event,
            ))
            .await
        })
        .await
    }

    /// Queued deliveries to the deliver function, one message per invocation as the template's
    /// event source hands them over; failed messages become visible again (and after the
    /// queue's receive count, land in its dead-letter queue).
    pub async fn pump_deliveries(&self, services: &Services) -> usize {
        let worker = &services.deliver;
        self.pump_sqs(&self.delivery_queue_url, 1, |event| async move {
            Box::pin(deliver::handler::deliver_messages(
                &worker.deliverer(),
                &worker.staging_bucket,
                event,
            ))
            .await
        })
        .await
    }

    async fn pump_sqs<F, Fut>(&self, queue_url: &str, batch: i32, handler: F) -> usize
    where
        F: Fn(SqsEvent) -> Fut,
        Fut: std::future::Future<Output = aws_lambda_events::sqs::SqsBatchResponse>,
    {
        let mut handled = 0;
        loop {
            let received = self.receive(queue_url, batch).await;
            if received.is_empty() {
                return handled;
            }
            handled += received.len();
            let mut event = SqsEvent::default();
            event.records = received
                .iter()
                .map(|m| {
                    let mut message = SqsMessage::default();
                    message.message_id = m.message_id.clone();
                    message.receipt_handle = m.receipt_handle.clone();
                    message.body = m.body.clone();
                    message.attributes = m
                        .attributes
                        .iter()
                        .flatten()
                        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                        .collect();
                    message
                })
                .collect();
            let response = handler(event).await;
            for message in &received {
                let failed = response
                    .batch_item_failures
                    .iter()
                    .any(|f| f.item_identifier == message.message_id.clone().unwrap_or_default());
                let handle = message.receipt_handle.clone().unwrap_or_default();
                if failed {
                    self.sqs
                        .change_message_visibility()
                        .queue_url(queue_url)
                        .receipt_handle(handle)
                        .visibility_timeout(0)
                        .send()
                        .await
                        .expect("ChangeMessageVisibility");
                } else {
                    self.sqs
                        .delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("DeleteMessage");
                }
            }
        }
    }

    /// The scheduler's schedule fires once.
    pub async fn run_schedule(&self, services: &Services) -> Value {
        let (store, queue) = &services.scheduler;
        Box::pin(revalidate_scheduler::handler::handle(
            store,
            queue,
            scheduled_event(),
        ))
        .await
        .expect("the scheduler runs")
    }

    /// The sweep's schedule fires once.
    pub async fn run_sweep(&self, services: &Services) -> Value {
        let (outbox, publisher) = &services.publisher;
        publish_events::handler::handle(
            outbox,
            publisher,
            publish_events::handler::Trigger::Schedule(Box::new(scheduled_event())),
        )
        .await
        .expect("the sweep runs")
    }

    /// The delivery sweep's schedule fires once, `at` (a test's clock).
    pub async fn run_delivery_sweep(&self, services: &Services, at: time::OffsetDateTime) -> usize {
        let worker = &services.deliver;
        deliver::handler::sweep_due(&worker.store, &worker.queue, at)
            .await
            .expect("the delivery sweep runs")
    }

    /// Up to `batch` messages waiting on the queue (none waits for more), with their sender.
    async fn receive(&self, queue_url: &str, batch: i32) -> Vec<aws_sdk_sqs::types::Message> {
        self.sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(batch)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::SenderId,
            )
            .send()
            .await
            .expect("ReceiveMessage")
            .messages
            .unwrap_or_default()
    }

    /// Events put on the bus since the last call (each exactly as delivered).
    pub async fn observed_events(&self) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            let received = self.receive(&self.observer_queue_url, 10).await;
            if received.is_empty() {
                return events;
            }
            for message in received {
                events.push(
                    serde_json::from_str(message.body.as_deref().unwrap_or("null"))
                        .unwrap_or(Value::Null),
                );
                self.sqs
                    .delete_message()
                    .queue_url(&self.observer_queue_url)
                    .receipt_handle(message.receipt_handle.unwrap_or_default())
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
    }
}

enum Delivered {
    All,
    /// Up to and including this sequence number (`None`: nothing).
    UpTo(Option<String>),
    Nothing,
}

/// What EventBridge's schedule sends.
pub fn scheduled_event() -> EventBridgeEvent<Value> {
    serde_json::from_value(json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "111111111111",
        "time": "2026-11-28T00:00:00Z",
        "region": crate::accounts::REGION,
        "resources": [],
        "detail": {}
    }))
    .expect("a scheduled event")
}

/// A stream record as Lambda hands it to a function.
fn lambda_record(record: aws_sdk_dynamodbstreams::types::Record) -> Value {
    let change = record
        .dynamodb
        .unwrap_or_else(|| aws_sdk_dynamodbstreams::types::StreamRecord::builder().build());
    let image = |item: Option<HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
        item.map(|i| serde_json::to_value(serde_dynamo::Item::from(i)).expect("an image"))
            .unwrap_or_else(|| json!({}))
    };
    json!({
        "eventID": record.event_id,
        "eventName": record.event_name.map(|n| n.as_str().to_owned()),
        "eventSource": "aws:dynamodb",
        "eventVersion": "1.1",
        "awsRegion": crate::accounts::REGION,
        "dynamodb": {
            "Keys": image(change.keys),
            "NewImage": image(change.new_image),
            "OldImage": image(change.old_image),
            "SequenceNumber": change.sequence_number,
            "SizeBytes": change.size_bytes.unwrap_or(0),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
    })
}

/// Records one stream record as the emulated event source would hand it over (for tests that feed
/// a record twice).
pub fn as_event(records: Vec<EventRecord>) -> StreamEvent {
    let mut event = StreamEvent::default();
    event.records = records;
    event
}
