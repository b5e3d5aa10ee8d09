//! AWS accounts inside the emulator: the platform's, and customers' (buckets, roles). Tests make
//! their own accounts, so they never share state.

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use serde_json::json;

use crate::emulator::Emulator;

/// The region of the process's emulator, where everything but a partition test runs.
pub const REGION: &str = crate::emulator::REGION;

/// A fresh account id: 12 random digits, never the emulator's default account.
pub fn random_account_id() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("OS random source");
    format!(
        "{:012}",
        u64::from_le_bytes(bytes) % 900_000_000_000 + 100_000_000_000
    )
}

/// A short random suffix for names that must be unique (buckets, roles, tables).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// The SDK configuration our code uses, pointed at the emulator with `credentials`.
pub async fn sdk_config(
    emulator: &Emulator,
    credentials: Credentials,
    timeouts: bool,
) -> SdkConfig {
    let mut loader = shared::aws::defaults()
        .region(aws_config::Region::new(emulator.region.clone()))
        .endpoint_url(&emulator.endpoint)
        .credentials_provider(credentials);
    if timeouts {
        loader = loader.timeout_config(shared::aws::probe_timeouts());
    }
    loader.load().await
}

/// The emulator serves S3 path-style only.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

pub struct Account {
    pub id: String,
    /// An administrator of this account (inline `Allow */*`): sets things up, never plays our code.
    pub admin: SdkConfig,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The emulator's partition, which this account's ARNs are of.
    pub partition: shared::domain::Partition,
}

impl Account {
    /// A new account with a random id.
    pub async fn create(emulator: &Emulator) -> Account {
        Self::with_id(emulator, &random_account_id()).await
    }

    /// The account `id` (created, or a new admin of it if it exists).
    pub async fn with_id(emulator: &Emulator, id: &str) -> Account {
        let created = emulator
            .control(
                "/_fakecloud/iam/create-admin",
                &json!({"accountId": id, "userName": unique("admin")}),
            )
            .await;
        let key = created["accessKeyId"]
            .as_str()
            .expect("accessKeyId")
            .to_owned();
        assert!(
            !key.starts_with("test"),
            "keys starting with `test` bypass IAM; never use them"
        );
        let secret = created["secretAccessKey"]
            .as_str()
            .expect("secretAccessKey")
            .to_owned();
        let admin = sdk_config(
            emulator,
            Credentials::new(&key, &secret, None, None, "fakecloud-admin"),
            false,
        )
        .await;
        Account {
            id: id.to_owned(),
            admin,
            access_key_id: key,
            secret_access_key: secret,
            partition: emulator.partition(),
        }
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.admin)
    }
    pub fn s3(&self) -> aws_sdk_s3::Client {
        s3_client(&self.admin)
    }
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.admin)
    }
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.admin)
    }
    pub fn events(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&self.admin)
    }

    pub fn role_arn(&self, name: &str) -> String {
        format!("arn:{}:iam::{}:role/{name}", self.partition, self.id)
    }

    /// Creates a role with `trust_policy` and one inline policy; returns its ARN.
    pub async fn create_role(
        &self,
        name: &str,
        trust_policy: &str,
        permissions: Option<&str>,
    ) -> String {
        let iam = self.iam();
        let role = iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust_policy)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateRole {name}: {e:?}"));
        if let Some(permissions) = permissions {
            iam.put_role_policy()
                .role_name(name)
                .policy_name("permissions")
                .policy_document(permissions)
                .send()
                .await
                .unwrap_or_else(|e| panic!("PutRolePolicy {name}: {e:?}"));
        }
        role.role.expect("role").arn
    }

    /// A user with `policy` inline, and an SDK configuration signing as it.
    pub async fn create_user(
        &self,
        emulator: &Emulator,
        name: &str,
        policy: &str,
        timeouts: bool,
    ) -> (String, SdkConfig) {
        let iam = self.iam();
        let user = iam
            .create_user()
            .user_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateUser {name}: {e:?}"));
        let empty = serde_json::from_str::<serde_json::Value>(policy)
            .is_ok_and(|p| p["Statement"].as_array().is_some_and(Vec::is_empty));
        if !empty {
            iam.put_user_policy()
                .user_name(name)
                .policy_name("permissions")
                .policy_document(policy)
                .send()
                .await
                .unwrap_or_else(|e| panic!("PutUserPolicy {name}: {e:?}"));
        }
        let key = iam
            .create_access_key()
            .user_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateAccessKey {name}: {e:?}"))
            .access_key
            .expect("access key");
        let config = sdk_config(
            emulator,
            Credentials::new(
                key.access_key_id,
                key.secret_access_key,
                None,
                None,
                "function",
            ),
            timeouts,
        )
        .await;
        (user.user.expect("user").arn, config)
    }

    pub async fn create_bucket(&self, name: &str) {
        let mut request = self.s3().create_bucket().bucket(name);
        // Outside us-east-1, S3 wants the bucket's region named (as on AWS).
        let region = self.admin.region().map(|r| r.as_ref().to_owned());
        if let Some(region) = region.filter(|r| r != "us-east-1") {
            request = request.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                        region.as_str(),
                    ))
                    .build(),
            );
        }
        request
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateBucket {name}: {e:?}"));
    }

    pub async fn put_bucket_policy(&self, bucket: &str, policy: &str) {
        self.s3()
            .put_bucket_policy()
            .bucket(bucket)
            .policy(policy)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutBucketPolicy {bucket}: {e:?}"));
    }

    /// Removes `bucket`'s policy, as a customer breaking (or starting over) their grant would.
    pub async fn delete_bucket_policy(&self, bucket: &str) {
        self.s3()
            .delete_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DeleteBucketPolicy {bucket}: {e:?}"));
    }

    /// The keys of the objects in `bucket`.
    pub async fn object_keys(&self, bucket: &str) -> Vec<String> {
        self.s3()
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListObjectsV2 {bucket}: {e:?}"))
            .contents
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| o.key)
            .collect()
    }
}
