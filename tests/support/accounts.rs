//! AWS accounts inside the emulator: the platform's (where our code and its principal live) and
//! customers' (buckets, roles). Every test makes its own accounts, so tests never share state.

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use serde_json::{Value, json};

use crate::emulator::{Emulator, emulator, http};

/// Name of the platform principal customers trust (the template's connector role's name).
pub const CONNECTOR_NAME: &str = "destinations-platform-connector";
pub const REGION: &str = "us-east-1";

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

pub async fn sdk_config(emulator: &Emulator, credentials: Credentials) -> SdkConfig {
    shared::aws::defaults()
        .region(aws_config::Region::new(REGION))
        .endpoint_url(&emulator.endpoint)
        .credentials_provider(credentials)
        .load()
        .await
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
}

impl Account {
    pub async fn create() -> Account {
        Self::create_in(emulator()).await
    }

    pub async fn create_in(emulator: &Emulator) -> Account {
        let id = random_account_id();
        let request = json!({"accountId": id, "userName": unique("admin")}).to_string();
        let (status, body) = http(
            emulator.addr,
            "POST",
            "/_fakecloud/iam/create-admin",
            Some(&request),
        )
        .expect("emulator control endpoint");
        assert_eq!(status, 200, "create-admin failed: {body}");
        let created: Value = serde_json::from_str(&body).expect("create-admin answers JSON");
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
            Credentials::new(key, secret, None, None, "fakecloud-admin"),
        )
        .await;
        Account { id, admin }
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.admin)
    }
    pub fn s3(&self) -> aws_sdk_s3::Client {
        s3_client(&self.admin)
    }
    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.admin)
    }
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.admin)
    }

    pub fn role_arn(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:role/{name}", self.id)
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

    pub async fn create_bucket(&self, name: &str) {
        self.s3()
            .create_bucket()
            .bucket(name)
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
}

/// The platform: its account, the principal customers trust, and that principal's credentials,
/// which are what our code runs with.
pub struct Platform {
    pub account: Account,
    /// What rendered policies name and `PLATFORM_PRINCIPAL_ARNS` holds.
    pub principal_arn: String,
    pub connector: SdkConfig,
}

impl Platform {
    pub async fn create() -> Platform {
        Self::create_in(emulator()).await
    }

    /// Deployed, the platform principal is the connector role and our functions run as it. fakecloud
    /// does not match a role ARN in a trust or bucket policy to that role's sessions (AWS does; the
    /// emulator only matches the session ARN), so here the platform principal is an IAM user with
    /// the connector role's permissions, and our code runs with its keys. This is the only place
    /// that knows.
    pub async fn create_in(emulator: &Emulator) -> Platform {
        let account = Account::create_in(emulator).await;
        // What template.yaml grants the connector role, restated for the emulator's account.
        let permissions = json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/*"},
                {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectAcl"], "Resource": "arn:aws:s3:::*/*"}
            ]
        });
        let iam = account.iam();
        let user = iam
            .create_user()
            .user_name(CONNECTOR_NAME)
            .send()
            .await
            .expect("CreateUser for the platform principal");
        iam.put_user_policy()
            .user_name(CONNECTOR_NAME)
            .policy_name("reach-customer-buckets")
            .policy_document(permissions.to_string())
            .send()
            .await
            .expect("PutUserPolicy");
        let key = iam
            .create_access_key()
            .user_name(CONNECTOR_NAME)
            .send()
            .await
            .expect("CreateAccessKey")
            .access_key
            .expect("access key");
        let credentials = Credentials::new(
            key.access_key_id,
            key.secret_access_key,
            None,
            None,
            "platform-principal",
        );
        let connector = sdk_config(emulator, credentials).await;
        Platform {
            account,
            principal_arn: user.user.expect("user").arn,
            connector,
        }
    }

    /// Where customer roles must live in tests. fakecloud denies every cross-account AssumeRole whose
    /// trust policy has an `sts:ExternalId` condition (../shared/reference/local-aws-emulator.md,
    /// difference 1), so roles for IAM-role mode are created in the platform's own account, where
    /// trust evaluation, External ID included, is faithful. This is the only place that knows.
    pub fn customer_role_account(&self) -> &Account {
        &self.account
    }

    /// What a customer who followed our instructions has: a role made from the rendered trust and
    /// permissions policies of `destination`. Returns its ARN.
    pub async fn create_customer_role(&self, destination: &shared::domain::Destination) -> String {
        let rendered = shared::policy::render(destination, &self.principals()).expect("renders");
        let document = |policy: Option<shared::policy::PolicyDocument>| {
            shared::policy::to_pretty_json(&policy.expect("role-mode documents"))
        };
        let permissions = document(rendered.permissions_policy);
        self.customer_role_account()
            .create_role(
                &unique("customer-writer"),
                &document(rendered.trust_policy),
                Some(&permissions),
            )
            .await
    }

    pub fn principals(&self) -> shared::config::PlatformPrincipals {
        shared::config::PlatformPrincipals::parse(&self.principal_arn).expect("connector role ARN")
    }
}
