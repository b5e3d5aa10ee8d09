//! `POST /destinations/{id}/policies/preview`: what an edit would make the customer apply again,
//! said before the edit is made, and nothing changed by asking.

use serde_json::{Value, json};
use shared::testing::memory::{InMemoryStore, ScriptedWriter};
use support::api::{RequestExt, request};
use support::memory::MemoryWorld;

fn world() -> MemoryWorld {
    MemoryWorld::new(InMemoryStore::new(), ScriptedWriter::permissive())
}

const ROLE: &str = "arn:aws:iam::222222222222:role/AcmeDelivery";
const KEY: &str = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn role_body() -> Value {
    json!({"name": "Lake", "bucket": "acme-exports", "folder": "platform", "authMode": "iamRole"})
}

/// A role destination whose role the customer created (its ARN set).
async fn role_destination(world: &MemoryWorld) -> String {
    let api = world.api();
    let id = api.create_id(role_body()).await;
    api.patch(&id, json!({"roleArn": ROLE})).await.expect(200);
    id
}

fn bucket_policy_body() -> Value {
    json!({"name": "Raw", "bucket": "acme-raw", "authMode": "bucketPolicy",
           "bucketOwnerAccountId": "222222222222", "kmsKeyArn": KEY})
}

/// `kind → change` of every previewed document.
fn changes(answer: &Value) -> Vec<(String, String)> {
    answer["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_owned(),
                d["change"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn document<'a>(answer: &'a Value, kind: &str) -> &'a Value {
    answer["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {answer}"))
}

#[tokio::test]
async fn a_new_folder_changes_the_permissions_policy_and_nothing_is_stored() {
    // GIVEN a role destination whose documents the customer applied
    let world = world();
    let api = world.api();
    let id = role_destination(&world).await;
    let before = api.get(&format!("/destinations/{id}")).await.expect(200);
    let trail_before = api
        .get(&format!("/destinations/{id}/activity"))
        .await
        .json();
    // WHEN the page previews moving it to another folder
    let answer = api
        .preview(&id, json!({"folder": "exports/2027"}))
        .await
        .expect(200)
        .json();
    // THEN the permissions policy changed (today's text beside it), the trust policy did not
    assert_eq!(answer["mustReapply"], true);
    assert_eq!(
        changes(&answer),
        [
            ("permissionsPolicy".to_owned(), "changed".to_owned()),
            ("trustPolicy".to_owned(), "unchanged".to_owned()),
        ]
    );
    let permissions = document(&answer, "permissionsPolicy");
    assert!(
        permissions["text"]
            .as_str()
            .unwrap()
            .contains("arn:aws:s3:::acme-exports/exports/2027/*")
    );
    assert!(
        permissions["previousText"]
            .as_str()
            .unwrap()
            .contains("arn:aws:s3:::acme-exports/platform/*")
    );
    assert!(
        document(&answer, "trustPolicy")
            .get("previousText")
            .is_none()
    );
    assert_eq!(answer["removedDocuments"], json!([]));
    // AND the destination, its version and its trail are as they were
    let after = api.get(&format!("/destinations/{id}")).await.expect(200);
    assert_eq!(after.header("etag"), before.header("etag"));
    assert_eq!(after.json()["folder"], "platform/");
    let trail = api
        .get(&format!("/destinations/{id}/activity"))
        .await
        .json();
    assert_eq!(trail, trail_before);
}

#[tokio::test]
async fn a_new_name_needs_nothing_applied_again() {
    // GIVEN a role destination
    let world = world();
    let api = world.api();
    let id = role_destination(&world).await;
    // WHEN the edit only renames it and re-describes it
    let answer = api
        .preview(&id, json!({"name": "Data lake", "description": "Nightly"}))
        .await
        .expect(200)
        .json();
    // THEN nothing must be applied again
    assert_eq!(answer["mustReapply"], false);
    assert!(changes(&answer).iter().all(|(_, c)| c == "unchanged"));
}

#[tokio::test]
async fn a_key_added_or_removed_adds_or_removes_its_key_policy_statement() {
    let world = world();
    let api = world.api();
    // GIVEN a role destination without a key, WHEN a key is added
    let role = role_destination(&world).await;
    let added = api
        .preview(&role, json!({"kmsKeyArn": KEY}))
        .await
        .expect(200)
        .json();
    // THEN the key policy statement is new and the permissions policy now names the key
    assert_eq!(added["mustReapply"], true);
    assert_eq!(
        document(&added, "keyPolicyStatement")["change"],
        "added",
        "{added}"
    );
    assert_eq!(document(&added, "permissionsPolicy")["change"], "changed");
    // GIVEN a bucket-policy destination with a key, WHEN the key is removed
    let bucket = api.create_id(bucket_policy_body()).await;
    let removed = api
        .preview(&bucket, json!({"kmsKeyArn": null}))
        .await
        .expect(200)
        .json();
    // THEN its statement is listed as no longer needed
    let gone: Vec<&str> = removed["removedDocuments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(gone, ["keyPolicyStatement"], "{removed}");
}

#[tokio::test]
async fn an_edit_the_update_refuses_is_refused_the_same_way() {
    let world = world();
    let api = world.api();
    let bucket = api.create_id(bucket_policy_body()).await;
    let role = role_destination(&world).await;
    for (id, edit) in [
        (&bucket, json!({"roleArn": ROLE})),
        (&bucket, json!({"bucketOwnerAccountId": null})),
        (&role, json!({"bucket": "Not_A_Bucket"})),
        (
            &role,
            json!({"roleArn": "arn:aws:iam::111111111111:role/Ours"}),
        ),
        (&role, json!({"authMode": "bucketPolicy"})),
    ] {
        // WHEN the same edit is previewed and sent
        let previewed = api.preview(id, edit.clone()).await;
        let patched = api.patch(id, edit.clone()).await;
        // THEN both refuse it with the same problem, and the preview changes nothing
        assert!(
            previewed.status() >= 400,
            "{edit}: {}",
            previewed.response.body
        );
        assert_eq!(previewed.status(), patched.status(), "{edit}");
        assert_eq!(previewed.json()["type"], patched.json()["type"], "{edit}");
        assert_eq!(
            previewed.json()["errors"],
            patched.json()["errors"],
            "{edit}"
        );
    }
    // AND another tenant's destination cannot be previewed
    let mut theirs = request("POST", &format!("/destinations/{role}/policies/preview"))
        .json(json!({"folder": "x"}));
    theirs.tenant = Some(shared::domain::TenantId::new("tenant-b").unwrap());
    assert_eq!(api.send(theirs).await.status(), 404);
}
