//! The emulator tier's world: the platform built inside fakecloud from template.yaml, every
//! function wired as its `main.rs` wires it, and Lambda's event sources.

use aws_sdk_dynamodb::Client as DynamoDb;
use dev_support::accounts::{Account, unique};
use dev_support::dispatch::{Dispatcher, Pumped};
use dev_support::emulator::{Emulator, emulator};
use dev_support::platform::{EmulatedPlatform, Options, PlatformAccounts};
use dev_support::services::{Services, quick_check_settings};
use shared::adapters::dynamodb::DynamoDbStore;
use shared::app::check::CheckSettings;

use crate::api::Api;

pub struct World {
    pub platform: EmulatedPlatform,
    pub services: Services,
    pub dispatcher: Dispatcher,
}

impl World {
    /// A fresh platform in the shared emulator (customer roles may live in its account).
    pub async fn new() -> World {
        Self::with(emulator(), Options::default(), quick_check_settings()).await
    }

    /// A platform whose own account is what the template says it is (no customer role there).
    pub async fn with_own_account_denied() -> World {
        let options = Options {
            platform_accounts: PlatformAccounts::Own,
            ..Options::default()
        };
        Self::with(emulator(), options, quick_check_settings()).await
    }

    pub async fn with(emulator: &Emulator, options: Options, check: CheckSettings) -> World {
        // Boxed: the set-up's state machines are large in debug builds, and a test's stack is not.
        let platform = Box::pin(EmulatedPlatform::create(emulator, options)).await;
        let services = Box::pin(Services::wire(&platform, check)).await;
        let dispatcher = Dispatcher::new(&platform);
        World {
            platform,
            services,
            dispatcher,
        }
    }

    pub fn api(&self) -> Api {
        Api::new(self.services.http())
    }

    /// The table, as the destinations function sees it.
    pub fn store(&self) -> &DynamoDbStore {
        &self.services.destinations.store
    }

    /// Where customer roles live in tests (emulator difference 3, see dev_support::platform).
    pub fn customer_role_account(&self) -> &Account {
        &self.platform.account
    }

    pub fn dynamodb(&self) -> DynamoDb {
        self.platform.account.dynamodb()
    }

    /// Lambda's event sources until nothing is left to hand over.
    pub async fn settle(&self) -> Pumped {
        self.dispatcher.settle(&self.services).await
    }

    /// The bodies of the messages waiting in `queue_url` (a dead-letter queue, say).
    pub async fn message_bodies(&self, queue_url: &str) -> Vec<String> {
        self.platform
            .account
            .sqs()
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.body)
            .collect()
    }

    /// Stages `bytes` in the platform's staging bucket, as an exporter does.
    pub async fn stage(&self, key: &str, bytes: impl Into<bytes::Bytes>) {
        self.platform
            .account
            .s3()
            .put_object()
            .bucket(&self.platform.staging_bucket)
            .key(key)
            .body(bytes.into().into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("staging {key}: {e:?}"));
    }

    /// One attribute of the queue at `queue_url` (a count of its messages, say).
    pub async fn queue_attribute(
        &self,
        queue_url: &str,
        name: aws_sdk_sqs::types::QueueAttributeName,
    ) -> String {
        let attributes = self
            .platform
            .account
            .sqs()
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(name.clone())
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        attributes.get(&name).cloned().unwrap_or_default()
    }

    /// A bucket in the role account (role mode) with a unique name.
    pub async fn role_account_bucket(&self) -> String {
        let bucket = unique("dest");
        self.customer_role_account().create_bucket(&bucket).await;
        bucket
    }

    /// A role made from a destination's rendered documents, as a customer following the guide
    /// would; returns its ARN.
    pub async fn role_from_rendered(&self, id: &str) -> String {
        let api = self.api();
        let trust = api.document(id, "trustPolicy").await;
        let permissions = api.document(id, "permissionsPolicy").await;
        let permissions = dev_support::platform::customer_document(&permissions);
        self.customer_role_account()
            .create_role(&unique("customer-writer"), &trust, Some(&permissions))
            .await
    }
}
