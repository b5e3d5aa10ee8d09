use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::domain::*;
use crate::testing::{CONNECTOR, DestinationBuilder, WRITER, platform, writer_session};

const ID: &str = "0b6f3c1e-8a4d-4a4f-9d0e-6d5c2b1a0f9e";

fn destination(auth: AuthModeKind, folder: &str, kms: Option<&str>) -> Destination {
    let builder = DestinationBuilder::new(auth)
        .id(ID)
        .bucket("customer-bucket")
        .region("eu-west-1")
        .folder(folder);
    match kms {
        Some(key) => builder.kms_key(key).build(),
        None => builder.build(),
    }
}

const KEY: &str = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab";

#[test]
fn iam_role_mode_renders_permissions_and_trust_exactly() {
    // GIVEN a role-mode destination writing to exports/ with a KMS key
    let d = destination(AuthModeKind::IamRole, "/exports/", Some(KEY));
    // WHEN its policies are rendered
    let rendered = render(&d, &platform()).unwrap();
    // THEN the permissions policy covers exactly the folder: puts only with the owner ACL, the
    // parts of multipart uploads (which carry no ACL) and their abort, and the key only through S3
    // for this bucket
    let permissions = serde_json::to_value(rendered.permissions_policy.unwrap()).unwrap();
    assert_eq!(
        permissions,
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "PutObjectsInDestinationFolder", "Effect": "Allow",
                 "Action": ["s3:PutObject", "s3:PutObjectAcl"],
                 "Resource": ["arn:aws:s3:::customer-bucket/exports/*"],
                 "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}},
                {"Sid": "UploadPartsInDestinationFolder", "Effect": "Allow",
                 "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                 "Resource": ["arn:aws:s3:::customer-bucket/exports/*"],
                 "Condition": {"Null": {"s3:x-amz-acl": "true"}}},
                {"Sid": "UseDestinationKmsKeyThroughS3", "Effect": "Allow",
                 "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": [KEY],
                 "Condition": {
                    "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"},
                    "StringLike": {"kms:EncryptionContext:aws:s3:arn": [
                        "arn:aws:s3:::customer-bucket", "arn:aws:s3:::customer-bucket/exports/*"]}
                 }}
            ]
        })
    );
    // AND the trust policy requires this destination's External ID from our principal
    let trust = serde_json::to_value(rendered.trust_policy.unwrap()).unwrap();
    assert_eq!(
        trust,
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "TrustPlatformWithExternalId", "Effect": "Allow",
                "Principal": {"AWS": CONNECTOR}, "Action": ["sts:AssumeRole"],
                "Condition": {"StringEquals": {"sts:ExternalId": d.external_id().unwrap().expose()}}
            }]
        })
    );
    assert!(rendered.bucket_policy.is_none());
}

#[test]
fn a_known_bucket_owner_scopes_the_permissions_and_every_session() {
    // GIVEN a destination whose customer named the bucket's account
    let d = DestinationBuilder::new(AuthModeKind::IamRole)
        .bucket("customer-bucket")
        .owner("222222222222")
        .build();
    // THEN the rendered permissions only reach that account's bucket
    let permissions = serde_json::to_value(permissions_policy(d.configuration())).unwrap();
    assert_eq!(
        permissions["Statement"][0]["Condition"]["StringEquals"]["aws:ResourceAccount"],
        "222222222222"
    );
    // AND a session policy names whatever owner the check expects
    let owner = AccountId::new("333333333333").unwrap();
    let session = serde_json::to_value(session_policy(d.configuration(), Some(&owner))).unwrap();
    assert_eq!(
        session["Statement"][0]["Condition"]["StringEquals"]["aws:ResourceAccount"],
        "333333333333"
    );
    assert!(iam_size(&session_policy(d.configuration(), Some(&owner))) <= SESSION_POLICY_LIMIT);
}

#[test]
fn a_vended_session_puts_only_with_the_owner_acl() {
    // GIVEN a destination and the owner its writes name
    let d = DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .owner("222222222222")
        .build();
    let owner = AccountId::new("222222222222").unwrap();
    // WHEN the session handed to an exporter is scoped
    let vended =
        serde_json::to_value(single_put_session_policy(d.configuration(), Some(&owner))).unwrap();
    // THEN every statement that allows a write requires the ACL (no parts-without-ACL grant)
    let statements = vended["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "{vended}");
    assert_eq!(
        statements[0]["Condition"]["StringEquals"]["s3:x-amz-acl"],
        "bucket-owner-full-control"
    );
    // AND the delivery session keeps the parts statement besides it
    let delivering = serde_json::to_value(session_policy(d.configuration(), Some(&owner))).unwrap();
    assert_eq!(delivering["Statement"].as_array().unwrap().len(), 2);
    // AND no session statement spends the packed-size budget on a Sid no one reads
    for session in [&vended, &delivering] {
        let statements = session["Statement"].as_array().unwrap();
        assert!(
            statements.iter().all(|s| s.get("Sid").is_none()),
            "{session}"
        );
    }
}

#[test]
fn kms_grants_name_the_partitions_s3_endpoint() {
    let d = DestinationBuilder::new(AuthModeKind::IamRole)
        .region("cn-north-1")
        .kms_key("arn:aws-cn:kms:cn-north-1:222222222222:key/abc")
        .build();
    let permissions = serde_json::to_value(permissions_policy(d.configuration())).unwrap();
    assert_eq!(
        permissions["Statement"][2]["Condition"]["StringEquals"]["kms:ViaService"],
        "s3.cn-north-1.amazonaws.com.cn"
    );
}

#[test]
fn root_folder_grants_the_whole_bucket_and_nothing_else() {
    let d = destination(AuthModeKind::IamRole, "", None);
    assert_eq!(
        object_resource(d.configuration()),
        "arn:aws:s3:::customer-bucket/*"
    );
    let permissions = permissions_policy(d.configuration());
    assert_eq!(
        permissions.statement.len(),
        2,
        "no KMS statement without a key"
    );
}

#[test]
fn bucket_policy_mode_renders_whole_policy_statement_and_key_statement() {
    // GIVEN a bucket-policy destination with a KMS key
    let d = destination(AuthModeKind::BucketPolicy, "a/b", Some(KEY));
    // WHEN rendered
    let rendered = render(&d, &platform()).unwrap();
    // THEN the statement grants this destination's writer session, and no other identity, the write
    // actions on the folder (the ACL is required by the writer's own policies)
    let statement = rendered.bucket_policy_statement.clone().unwrap();
    assert_eq!(rendered.platform_principal, writer_session(d.id()));
    assert_eq!(
        serde_json::to_value(&statement).unwrap(),
        json!({
            "Sid": "DataPlatformDestination0b6f3c1e8a4d4a4f9d0e6d5c2b1a0f9e",
            "Effect": "Allow",
            "Principal": {"AWS": writer_session(d.id())},
            "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:AbortMultipartUpload"],
            "Resource": ["arn:aws:s3:::customer-bucket/a/b/*"]
        })
    );
    // AND the simple-setup policy is exactly that one statement
    assert_eq!(rendered.bucket_policy.unwrap().statement, vec![statement]);
    let key_statement = serde_json::to_value(rendered.key_policy_statement.unwrap()).unwrap();
    assert_eq!(key_statement["Principal"]["AWS"], writer_session(d.id()));
    assert_eq!(
        key_statement["Condition"]["StringEquals"]["kms:ViaService"],
        "s3.eu-west-1.amazonaws.com"
    );
    assert!(rendered.trust_policy.is_none() && rendered.permissions_policy.is_none());
}

#[test]
fn rendering_is_deterministic_with_a_stable_key_order() {
    let d = destination(AuthModeKind::BucketPolicy, "x", None);
    let first = to_pretty_json(&render(&d, &platform()).unwrap());
    let second = to_pretty_json(&render(&d, &platform()).unwrap());
    assert_eq!(first, second);
    let sid = first.find("\"Sid\"").unwrap();
    let effect = first.find("\"Effect\"").unwrap();
    let principal = first.find("\"Principal\"").unwrap();
    let action = first.find("\"Action\"").unwrap();
    let resource = first.find("\"Resource\"").unwrap();
    assert!(sid < effect && effect < principal && principal < action && action < resource);
    assert!(first.contains("\n  "), "pretty-printed");
}

#[test]
fn a_partition_without_a_principal_is_refused() {
    let d = DestinationBuilder::new(AuthModeKind::IamRole)
        .region("cn-north-1")
        .build();
    assert_eq!(
        render(&d, &platform()),
        Err(RenderError::PartitionNotServed(Partition::AwsCn))
    );
}

#[test]
fn longest_legal_inputs_still_fit_the_trust_policy_limit() {
    // GIVEN the longest principal ARN (512-char path, 64-char name) and External ID STS allows
    let long = format!(
        "arn:aws:iam::111111111111:role/{}/{}",
        "p".repeat(510),
        "n".repeat(64)
    );
    // WHEN rendered THEN it fits, measured the way IAM measures
    let trust = trust_policy(&long, &[&"e".repeat(1224)]);
    assert!(
        iam_size(&trust) <= TRUST_POLICY_LIMIT,
        "{}",
        iam_size(&trust)
    );
    // AND, during a rotation, two of the IDs we generate fit beside it
    let (current, next) = (
        crate::domain::ExternalId::generate().unwrap(),
        crate::domain::ExternalId::generate().unwrap(),
    );
    let rotating = trust_policy(&long, &[current.expose(), next.expose()]);
    assert!(iam_size(&rotating) <= TRUST_POLICY_LIMIT);
    assert_eq!(
        serde_json::to_value(&rotating).unwrap()["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        serde_json::json!([current.expose(), next.expose()])
    );
}

#[test]
fn oversize_documents_are_errors_not_truncations() {
    let huge = PolicyDocument::new(vec![Statement::allow(
        &["s3:PutObject"],
        vec!["x".repeat(3000)],
    )]);
    assert_eq!(
        render::check_size("trust policy", &huge, TRUST_POLICY_LIMIT),
        Err(RenderError::TooLarge {
            document: "trust policy",
            size: iam_size(&huge),
            limit: 2048
        })
    );
    assert_eq!(
        render::check_size("managed policy", &huge, MANAGED_POLICY_LIMIT),
        Ok(())
    );
    // (a document of exactly its limit is IAM's to take)
    assert_eq!(
        render::check_size("trust policy", &huge, iam_size(&huge)),
        Ok(())
    );
}

#[test]
fn iam_size_ignores_formatting_whitespace() {
    let d = destination(AuthModeKind::IamRole, "x", None);
    let policy = permissions_policy(d.configuration());
    let pretty = to_pretty_json(&policy);
    let compact = serde_json::to_string(&policy).unwrap();
    assert!(pretty.len() > compact.len());
    assert_eq!(iam_size(&policy), compact.len());
}

// ---- merge ----

fn ours() -> (Statement, String) {
    let d = destination(AuthModeKind::BucketPolicy, "exports", None);
    let writer = writer_session(d.id());
    (
        bucket_policy_statement(d.id(), d.configuration(), &writer),
        object_resource(d.configuration()),
    )
}

fn merge(existing: &str) -> Result<MergeOutcome, MergeError> {
    let (statement, resource) = ours();
    let principal = statement.principal.clone().unwrap().aws;
    merge_statement(
        existing,
        &statement,
        &OurWrite {
            principal: &principal,
            object_resource: &resource,
        },
    )
}

#[test]
fn merge_appends_and_keeps_other_statements_in_order() {
    // GIVEN a policy with two statements and an Id
    let existing = json!({
        "Id": "keep-me", "Version": "2012-10-17",
        "Statement": [
            {"Sid": "First", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::customer-bucket/public/*"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::333333333333:root"}, "Action": ["s3:ListBucket"], "Resource": "arn:aws:s3:::customer-bucket"}
        ]
    });
    // WHEN ours is merged
    let outcome = merge(&existing.to_string()).unwrap();
    // THEN the others are untouched, ours is last, and the member order is kept
    let statements = outcome.policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 3);
    assert_eq!(statements[0], existing["Statement"][0]);
    assert_eq!(statements[1], existing["Statement"][1]);
    assert_eq!(statements[2], serde_json::to_value(ours().0).unwrap());
    let keys: Vec<&String> = outcome.policy.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["Id", "Version", "Statement"]);
    assert!(!outcome.replaced_existing);
    assert!(outcome.warnings.is_empty());
}

#[test]
fn merging_twice_changes_nothing() {
    let once = merge(r#"{"Version":"2012-10-17","Statement":{"Sid":"Only","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}}"#).unwrap();
    let twice = merge(&once.policy.to_string()).unwrap();
    assert_eq!(once.policy, twice.policy);
    assert!(twice.replaced_existing);
}

#[test]
fn merge_replaces_a_stale_copy_of_our_statement_in_place() {
    let (statement, _) = ours();
    let stale = json!({"Sid": statement.sid.clone().unwrap(), "Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"});
    let existing = json!({"Version": "2012-10-17", "Statement": [stale, {"Sid": "After", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]});
    let outcome = merge(&existing.to_string()).unwrap();
    let statements = outcome.policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2);
    assert_eq!(statements[0], serde_json::to_value(&statement).unwrap());
    assert_eq!(statements[1]["Sid"], "After");
}

#[test]
fn merge_rejects_what_is_not_a_policy_and_says_why() {
    assert!(matches!(merge("{not json"), Err(MergeError::NotJson(_))));
    assert_eq!(merge("[]"), Err(MergeError::NotAnObject("an array")));
    assert_eq!(
        merge(r#"{"Version":"2012-10-17"}"#),
        Err(MergeError::MissingStatement)
    );
    assert_eq!(
        merge(r#"{"Statement":"x"}"#),
        Err(MergeError::StatementNotList)
    );
    assert_eq!(
        merge(r#"{"Statement":[1]}"#),
        Err(MergeError::StatementNotObject { index: 0 })
    );
    assert_eq!(
        merge(r#"{"Statement":[{"Effect":"Maybe"}]}"#),
        Err(MergeError::StatementEffect { index: 0 })
    );
    assert_eq!(
        merge(r#"{"Version":"2020-01-01","Statement":[]}"#),
        Err(MergeError::Version)
    );
}

#[test]
fn merge_enforces_the_bucket_policy_size_limit() {
    let filler: Vec<Value> = (0..200)
        .map(|i| json!({"Sid": format!("S{i}"), "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::customer-bucket/{}/*", "p".repeat(80))}))
        .collect();
    let existing = json!({"Version": "2012-10-17", "Statement": filler});
    assert!(matches!(
        merge(&existing.to_string()),
        Err(MergeError::TooLarge { limit: 20480, .. })
    ));
}

#[test]
fn merge_warns_about_deny_statements_that_could_block_our_writes() {
    let existing = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyAllPuts", "Effect": "Deny", "Principal": "*", "Action": "s3:Put*", "Resource": "arn:aws:s3:::customer-bucket/*"},
        {"Sid": "DenyInsecure", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::customer-bucket/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "DenyOtherFolder", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::customer-bucket/private/*"},
        {"Sid": "DenyReads", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"},
        {"Sid": "DenySomeoneElse", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "*", "Resource": "*"}
    ]});
    let outcome = merge(&existing.to_string()).unwrap();
    let flagged: Vec<Option<&str>> = outcome.warnings.iter().map(|w| w.sid.as_deref()).collect();
    assert_eq!(flagged, [Some("DenyAllPuts"), Some("DenyInsecure")]);
    assert!(
        outcome
            .warnings
            .iter()
            .all(|w| w.kind == MergeWarningKind::MayBlockOurWrites)
    );
    assert!(
        outcome.warnings[0]
            .message
            .contains("without any condition")
    );
    assert!(
        outcome.warnings[1]
            .message
            .contains("Bool aws:SecureTransport")
    );
}

#[test]
fn merge_reads_not_action_not_resource_and_not_principal_as_iam_does() {
    // GIVEN Denies written with the negated elements, each either reaching our writes or not
    let (ours, _) = ours();
    let principal = ours.principal.unwrap().aws;
    let folder = "arn:aws:s3:::customer-bucket/exports/*";
    let existing = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "AllButReads", "Effect": "Deny", "Principal": "*", "NotAction": "s3:GetObject", "Resource": folder},
        {"Sid": "AllButPuts", "Effect": "Deny", "Principal": "*", "NotAction": ["s3:PutObject"], "Resource": folder},
        {"Sid": "OutsidePublic", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "NotResource": "arn:aws:s3:::customer-bucket/public/*"},
        {"Sid": "OutsideExports", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "NotResource": folder},
        {"Sid": "AllButPartner", "Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "s3:PutObject", "Resource": folder},
        {"Sid": "AllButUs", "Effect": "Deny", "NotPrincipal": {"AWS": principal}, "Action": "s3:PutObject", "Resource": folder}
    ]});
    // WHEN our statement is merged in
    let outcome = merge(&existing.to_string()).unwrap();
    // THEN exactly those that apply to our PutObject into the folder are flagged
    let flagged: Vec<Option<&str>> = outcome.warnings.iter().map(|w| w.sid.as_deref()).collect();
    assert_eq!(
        flagged,
        [
            Some("AllButReads"),
            Some("OutsidePublic"),
            Some("AllButPartner")
        ]
    );
}

#[test]
fn merge_flags_a_deny_on_our_principal_however_it_is_named_and_on_part_of_the_folder() {
    let (ours, _) = ours();
    let session = ours.principal.unwrap().aws;
    let account = session.split(':').nth(4).unwrap().to_owned();
    let whole = "arn:aws:s3:::customer-bucket/exports/*";
    for (principal, resource) in [
        (json!("*"), whole),
        (json!({"AWS": "*"}), whole),
        (json!({"AWS": session}), whole),
        (json!({"AWS": account}), whole),
        (
            json!({"AWS": [format!("arn:aws:iam::{account}:root")]}),
            whole,
        ),
        // (our keys start with the date: a Deny on some of them blocks those deliveries)
        (json!("*"), "arn:aws:s3:::customer-bucket/exports/2*"),
        (json!("*"), "arn:aws:s3:::customer-bucket/exp*"),
        (json!("*"), "arn:aws:s3:::customer-bucket/export?/*"),
    ] {
        // GIVEN a Deny of PutObject naming us this way, on this resource
        let existing = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Deny", "Effect": "Deny", "Principal": principal, "Action": "s3:PutObject", "Resource": resource}
        ]});
        // WHEN our statement is merged in THEN the Deny is flagged
        let outcome = merge(&existing.to_string()).unwrap();
        assert_eq!(outcome.warnings.len(), 1, "{principal} on {resource}");
        assert_eq!(
            outcome.warnings[0].kind,
            MergeWarningKind::MayBlockOurWrites
        );
    }
    // AND a Deny on the bucket itself, or on the folder's marker object, is not flagged
    for resource in [
        "arn:aws:s3:::customer-bucket",
        "arn:aws:s3:::customer-bucket/exports/",
        "arn:aws:s3:::customer-bucket/exports",
        "arn:aws:s3:::customer-bucket/export/*",
        "arn:aws:s3:::customer-bucket/exports?",
    ] {
        let existing = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Deny", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": resource}
        ]});
        assert!(
            merge(&existing.to_string()).unwrap().warnings.is_empty(),
            "{resource}"
        );
    }
}

#[test]
fn merge_accepts_a_policy_of_exactly_the_size_limit() {
    // GIVEN a customer statement padded so that the merged policy is exactly 20 KB
    let padded = |pad: usize| {
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "P".repeat(pad), "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::customer-bucket/public/*"}
        ]})
        .to_string()
    };
    let unpadded = serde_json::to_string(&merge(&padded(1)).unwrap().policy)
        .unwrap()
        .len();
    let exact = padded(1 + BUCKET_POLICY_LIMIT - unpadded);
    // WHEN merged THEN it is accepted; one byte more is refused
    let outcome = merge(&exact).unwrap();
    assert_eq!(
        serde_json::to_string(&outcome.policy).unwrap().len(),
        BUCKET_POLICY_LIMIT
    );
    let over = padded(2 + BUCKET_POLICY_LIMIT - unpadded);
    assert!(matches!(merge(&over), Err(MergeError::TooLarge { .. })));
}

#[test]
fn globs_match_as_iam_matches_them() {
    use super::merge::wildcard_match;
    for (pattern, text, matches) in [
        ("s3:Put*", "s3:PutObject", true),
        ("s3:Put*", "s3:Put", true),
        ("s3:*Object", "s3:PutObject", true),
        ("s3:?utObject", "s3:PutObject", true),
        ("s3:PutObject", "s3:PutObjec", false),
        ("s3:PutObjec", "s3:PutObject", false),
        ("s3:Get*", "s3:PutObject", false),
        ("*", "", true),
        ("?", "", false),
        ("a*b*c", "aXbYbZc", true),
        ("a*b", "ab", true),
        ("a*b*c", "aXbYbZ", false),
    ] {
        assert_eq!(wildcard_match(pattern, text), matches, "{pattern} ~ {text}");
    }
}

#[test]
fn merge_flags_allows_that_let_other_sessions_of_our_writer_put() {
    // GIVEN a policy that grants our writes to everyone, the platform's account (as its root or
    // its bare ID, on part of the folder), the writer role and a wildcard over its sessions,
    // besides harmless grants
    let account = CONNECTOR.split(':').nth(4).unwrap();
    let role = WRITER;
    let existing = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::customer-bucket/*"},
        {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{account}:root")}, "Action": "s3:Put*", "Resource": "arn:aws:s3:::customer-bucket/exports/*"},
        {"Sid": "AccountId", "Effect": "Allow", "Principal": {"AWS": account}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::customer-bucket/exports/2*"},
        {"Sid": "Role", "Effect": "Allow", "Principal": {"AWS": [role]}, "Action": "s3:*", "Resource": "*"},
        {"Sid": "AnySession", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:sts::{account}:assumed-role/destinations-platform-writer/destination-*")}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::customer-bucket/*"},
        {"Sid": "ReadsOnly", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::customer-bucket/*"},
        {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::customer-bucket/*"}
    ]});
    // WHEN our statement is merged in
    let outcome = merge(&existing.to_string()).unwrap();
    // THEN the five broad grants are flagged, and neither ours nor the harmless ones
    let flagged: Vec<Option<&str>> = outcome.warnings.iter().map(|w| w.sid.as_deref()).collect();
    assert_eq!(
        flagged,
        [
            Some("Everyone"),
            Some("Account"),
            Some("AccountId"),
            Some("Role"),
            Some("AnySession")
        ]
    );
    assert!(
        outcome.warnings[0]
            .message
            .contains("Test Connection refuses")
    );
    assert!(
        outcome
            .warnings
            .iter()
            .all(|w| w.kind == MergeWarningKind::GrantsOthers)
    );
    // AND merging our statement alone flags nothing
    let alone = merge(&json!({"Version": "2012-10-17", "Statement": []}).to_string()).unwrap();
    assert!(alone.warnings.is_empty());
}

fn arb_statement() -> impl Strategy<Value = Value> {
    (
        proptest::option::of("[A-Za-z0-9]{1,12}"),
        prop_oneof![Just("Allow"), Just("Deny")],
        proptest::collection::vec("s3:[A-Za-z*]{1,12}", 1..4),
        "[a-z0-9/*]{0,20}",
        proptest::option::of(("[A-Za-z]{1,10}", "[a-z:]{1,10}", "[a-z0-9]{0,8}")),
    )
        .prop_map(|(sid, effect, actions, resource, condition)| {
            let mut s = json!({"Effect": effect, "Principal": "*", "Action": actions, "Resource": format!("arn:aws:s3:::b/{resource}")});
            if let Some(sid) = sid {
                s["Sid"] = json!(sid);
            }
            if let Some((op, key, value)) = condition {
                s["Condition"] = json!({op: {key: value}});
            }
            s
        })
}

proptest! {
    #[test]
    fn merge_properties_hold_for_random_policies(
        statements in proptest::collection::vec(arb_statement(), 0..12),
        single in any::<bool>(),
    ) {
        let statement_member = if single && statements.len() == 1 { statements[0].clone() } else { json!(statements) };
        let existing = json!({"Version": "2012-10-17", "Statement": statement_member});
        let (ours, _) = ours();
        let sid = ours.sid.clone().unwrap();

        let once = merge(&existing.to_string()).unwrap();
        let merged = once.policy["Statement"].as_array().unwrap();
        // Every original statement survives, unchanged and in order, followed by ours exactly once.
        prop_assert_eq!(&merged[..statements.len()], &statements[..]);
        prop_assert_eq!(merged.len(), statements.len() + 1);
        prop_assert_eq!(merged.iter().filter(|s| s["Sid"] == json!(sid)).count(), 1);
        // Idempotent.
        let twice = merge(&once.policy.to_string()).unwrap();
        prop_assert_eq!(&twice.policy, &once.policy);
    }
}

#[test]
fn longest_legal_inputs_still_fit_the_session_policy_limit() {
    // GIVEN the longest bucket name and folder, a KMS key and a known owner
    let folder = format!("{}/{}", "f".repeat(255), "g".repeat(255));
    let d = DestinationBuilder::new(AuthModeKind::IamRole)
        .bucket(&"b".repeat(63))
        .folder(&folder)
        .owner("222222222222")
        .kms_key("arn:aws-us-gov:kms:us-gov-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab")
        .region("us-gov-west-1")
        .build();
    // WHEN every check's and delivery's session policy is rendered THEN STS accepts its size
    let owner = AccountId::new("222222222222").unwrap();
    let size = iam_size(&session_policy(d.configuration(), Some(&owner)));
    assert!(size <= SESSION_POLICY_LIMIT, "{size}");
}
