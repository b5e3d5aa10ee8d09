//! The platform account inside the emulator, set up the way the SAM template sets it up in AWS.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use serde_json::{Value, json};
use shared::adapters::aws_probe::AwsProber;
use shared::adapters::dynamodb::{DynamoDbStore, create_table};
use shared::config::PlatformPrincipals;
use shared::connection_test::TestSettings;

/// Fixed so that roles and policies created in earlier local runs' docs keep making sense.
pub const PLATFORM_ACCOUNT: &str = "111111111111";
pub const CONNECTOR: &str = "destinations-platform-connector";
pub const TABLE: &str = "destinations-local";
pub const EVENT_BUS: &str = "destinations-local";
const REGION: &str = "us-east-1";

type Store = Arc<DynamoDbStore>;

pub struct LocalPlatform {
    pub principal_arn: String,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub publisher: crate::revalidation::PrintingPublisher,
    pub destinations: destinations_api::handler::App<Store>,
    pub policies: policies_api::handler::App<Store>,
    pub test_connection: test_connection::handler::App<Store, AwsProber>,
}

async fn config(endpoint: &str, credentials: Credentials) -> SdkConfig {
    shared::aws::defaults()
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .load()
        .await
}

/// POSTs to the emulator's own control API (loopback, plain HTTP/1.1).
fn control(endpoint: &str, path: &str, body: &str) -> Result<Value, String> {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host)
        .map_err(|e| format!("cannot reach the emulator at {endpoint}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let json = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let start = json.find('{').unwrap_or(0);
    let end = json.rfind('}').map(|i| i + 1).unwrap_or(json.len());
    serde_json::from_str(&json[start..end])
        .map_err(|e| format!("unexpected answer from {path}: {e}"))
}

impl LocalPlatform {
    pub async fn set_up(endpoint: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let admin = control(
            endpoint,
            "/_fakecloud/iam/create-admin",
            &json!({"accountId": PLATFORM_ACCOUNT, "userName": "platform-admin"}).to_string(),
        )?;
        let key = admin["accessKeyId"]
            .as_str()
            .ok_or("create-admin returned no key")?
            .to_owned();
        let secret = admin["secretAccessKey"]
            .as_str()
            .ok_or("create-admin returned no secret")?
            .to_owned();
        std::fs::create_dir_all("infra/.local")?;
        std::fs::write(
            "infra/.local/admin.env",
            format!(
                "# Platform account admin in the local emulator; `source` this to use the AWS CLI against it.\nexport AWS_ACCESS_KEY_ID={key}\nexport AWS_SECRET_ACCESS_KEY={secret}\nexport AWS_REGION={REGION}\nexport AWS_DEFAULT_REGION={REGION}\nexport AWS_ENDPOINT_URL={endpoint}\n"
            ),
        )?;
        let admin = config(
            endpoint,
            Credentials::new(key, secret, None, None, "local-admin"),
        )
        .await;

        // The platform principal. Deployed it is the connector role; fakecloud matches a role ARN in
        // trust and bucket policies only to the session ARN, not to the role's sessions as AWS does,
        // so locally it is an IAM user with the connector role's permissions, and our code runs
        // with that user's keys.
        let iam = aws_sdk_iam::Client::new(&admin);
        let permissions = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/*"},
            {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectAcl"], "Resource": "arn:aws:s3:::*/*"}
        ]});
        let principal_arn = match iam.get_user().user_name(CONNECTOR).send().await {
            Ok(found) => found
                .user
                .map(|u| u.arn)
                .ok_or("GetUser returned no user")?,
            Err(_) => iam
                .create_user()
                .user_name(CONNECTOR)
                .send()
                .await?
                .user
                .map(|u| u.arn)
                .ok_or("CreateUser returned no user")?,
        };
        iam.put_user_policy()
            .user_name(CONNECTOR)
            .policy_name("reach-customer-buckets")
            .policy_document(permissions.to_string())
            .send()
            .await?;
        let key = iam
            .create_access_key()
            .user_name(CONNECTOR)
            .send()
            .await?
            .access_key
            .ok_or("CreateAccessKey returned no key")?;
        let connector = config(
            endpoint,
            Credentials::new(
                key.access_key_id,
                key.secret_access_key,
                None,
                None,
                "local-principal",
            ),
        )
        .await;

        let dynamodb = aws_sdk_dynamodb::Client::new(&admin);
        if dynamodb
            .describe_table()
            .table_name(TABLE)
            .send()
            .await
            .is_err()
        {
            create_table(&dynamodb, TABLE).await?;
        }
        let store = Arc::new(DynamoDbStore::new(dynamodb, TABLE));
        let sqs = aws_sdk_sqs::Client::new(&admin);
        let queue_url = sqs
            .create_queue()
            .queue_name("destinations-revalidation")
            .send()
            .await?
            .queue_url
            .ok_or("CreateQueue returned no URL")?;
        let events = aws_sdk_eventbridge::Client::new(&admin);
        if events
            .describe_event_bus()
            .name(EVENT_BUS)
            .send()
            .await
            .is_err()
        {
            events.create_event_bus().name(EVENT_BUS).send().await?;
        }
        let publisher = crate::revalidation::PrintingPublisher(
            shared::adapters::eventbridge::EventBridgePublisher::new(events, EVENT_BUS),
        );
        let principals = PlatformPrincipals::parse(&principal_arn)?;
        Ok(Self {
            destinations: destinations_api::handler::App {
                store: store.clone(),
                principals: principals.clone(),
            },
            policies: policies_api::handler::App {
                store: store.clone(),
                principals: principals.clone(),
            },
            test_connection: test_connection::handler::App {
                store,
                prober: AwsProber::from_config(&connector, true),
                principals,
                settings: TestSettings::default(),
            },
            principal_arn,
            sqs,
            queue_url,
            publisher,
        })
    }
}
