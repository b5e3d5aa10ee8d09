//! The setup page in headless Chromium, served as the local run serves it, against the platform
//! in the emulator: a customer's whole path through the four steps in each mode, the failure a
//! confused-deputy trust policy gets, the list's actions, keyboard-only use, and the deployed
//! sign-in (authorization code + PKCE). Every state is checked with axe-core and screenshotted
//! under `target/screenshots/<test>/`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use dev_support::accounts::{Account, unique};
use dev_support::emulator::emulator;
use dev_support::services::{BearerTokens, Services, quick_check_settings};
use setup_page::page::{Oidc, Page, SignIn};
use shared::domain::TenantId;
use shared::http::Access;
use support::api::TENANT;
use support::browser::Browser;
use support::world::World;

const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (375, 812);
const TAB: &str = "\u{e004}";
const ENTER: &str = "\u{e007}";

/// The platform in the emulator and the local server on a free port; `configure` adjusts the
/// server's wiring (sign-in) before it starts. Returns the page's base URL.
async fn serve(configure: impl FnOnce(&mut Services)) -> (World, String) {
    let world = World::new().await;
    let mut services = Box::pin(Services::wire(&world.platform, quick_check_settings())).await;
    configure(&mut services);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(dev_support::server::serve(
        listener,
        Arc::new(services),
        std::future::pending(),
    ));
    (world, base)
}

/// Chooses the tenant on the page, as the local run asks.
async fn use_tenant(browser: &Browser) {
    browser.fill("#tenant", TENANT).await;
    browser.click("#tenant-form button[type=submit]").await;
    browser.wait_visible("#list-view").await;
}

/// The destination id of the wizard, from the page's address.
async fn wizard_destination(browser: &Browser) -> String {
    let url = browser.client.current_url().await.unwrap();
    let fragment = url.fragment().unwrap_or_default().to_owned();
    fragment
        .strip_prefix("destination/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("the wizard's address names no destination: {url}"))
        .to_owned()
}

/// Step 1 filled in and sent; returns the new destination's id once step 2 shows.
async fn create_through_the_page(
    browser: &Browser,
    name: &str,
    bucket: &str,
    folder: &str,
) -> String {
    browser.click("#new-destination").await;
    browser.wait_visible("#step-1").await;
    browser.fill("#name", name).await;
    browser.fill("#bucket", bucket).await;
    browser.fill("#folder", folder).await;
    browser.click("#create-submit").await;
    browser.wait_visible("#step-2 .doc pre").await;
    wizard_destination(browser).await
}

/// The list, as the tenant sees it, once destination `id`'s row is there.
async fn open_list_at(browser: &Browser, id: &str) {
    browser.open("/").await;
    use_tenant(browser).await;
    browser
        .wait_visible(&format!("#list-rows tr[data-id='{id}']"))
        .await;
}

async fn stage_statuses(browser: &Browser) -> Vec<(String, String)> {
    let stages = browser
        .eval("return [...document.querySelectorAll('#stages li')].map((li) => [li.dataset.stage, li.dataset.status])")
        .await;
    serde_json::from_value(stages).unwrap()
}

async fn wait_for_test_result(browser: &Browser) {
    browser
        .wait_until(
            "the test result",
            "const h = document.getElementById('test-heading'); return !!h && /^Test Connection (passed|failed)/.test(h.textContent);",
        )
        .await;
}

async fn row_text(browser: &Browser, id: &str, css: &str) -> String {
    browser
        .text(&format!("#list-rows tr[data-id='{id}'] {css}"))
        .await
}

const ALL_PASSED: [(&str, &str); 5] = [
    ("configuration", "passed"),
    ("confusedDeputyGuard", "passed"),
    ("assumeRole", "passed"),
    ("locateBucket", "passed"),
    ("write", "passed"),
];

fn owned(stages: &[(&str, &str)]) -> Vec<(String, String)> {
    stages
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_destination_is_created_granted_tested_and_saved_through_the_page() {
    // GIVEN the local run's page and a customer bucket
    let (world, base) = serve(|_| {}).await;
    let bucket = world.role_account_bucket().await;
    let mut browser = Browser::start("role-mode", &base, DESKTOP.0, DESKTOP.1).await;
    browser.open("/").await;
    use_tenant(&browser).await;
    browser.wait_visible("#list-empty").await;
    browser.assert_accessible("the empty list").await;

    // WHEN the customer sends step 1 empty
    browser.click("#new-destination").await;
    browser.wait_visible("#step-1").await;
    browser.screenshot("step-1-new-destination").await;
    browser.assert_accessible("step 1").await;
    // (the bucket owner says why we ask, where to find it, and what each choice means; it is
    // optional with a role and required with a bucket policy)
    let owner_hint = browser.text("#owner-hint").await;
    for said in [
        "under your name at the top right of the AWS console",
        "a bucket deleted and re-created under the same name by someone else never receives your data",
        "Required for a bucket policy",
        "leave it empty when the bucket is in the role's own account",
        "Test Connection fails saying the bucket has another owner",
    ] {
        assert!(owner_hint.contains(said), "{said}: {owner_hint}");
    }
    let owner_state = "return [document.getElementById('bucketOwnerAccountId').required, document.getElementById('owner-optional').hidden, document.getElementById('bucketOwnerAccountId').getAttribute('aria-describedby')]";
    assert_eq!(
        browser.eval(owner_state).await,
        json!([false, false, "owner-hint"])
    );
    browser.click("#auth-bucket-policy").await;
    assert_eq!(
        browser.eval(owner_state).await,
        json!([true, true, "owner-hint"])
    );
    browser.click("#auth-iam-role").await;
    browser.click("#create-submit").await;
    // THEN the API's problem shows next to each field it names
    browser.wait_visible("#name-error").await;
    assert!(
        browser
            .text("#name-error")
            .await
            .starts_with("Destination name")
    );
    browser.wait_visible("#bucket-error").await;
    assert_eq!(
        browser
            .find("#bucket")
            .await
            .attr("aria-invalid")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    browser.screenshot("step-1-errors").await;
    browser.assert_accessible("step 1 with errors").await;

    // WHEN it is filled in: step 2 shows the External ID and the documents to copy
    browser.fill("#name", "Lake").await;
    browser.fill("#bucket", &bucket).await;
    browser.fill("#folder", "platform/exports").await;
    browser.click("#create-submit").await;
    browser.wait_visible("#step-2 .doc pre").await;
    let id = wizard_destination(&browser).await;
    assert!(
        browser
            .client
            .find(fantoccini::Locator::Css("#name-error"))
            .await
            .is_err(),
        "the errors went with the fix"
    );
    let stored = world
        .api()
        .get(&format!("/destinations/{id}"))
        .await
        .expect(200)
        .json();
    let external_id = browser.value("#external-id").await;
    assert_eq!(external_id, stored["externalId"].as_str().unwrap());
    let trust = browser.text("#doc-trustPolicy").await;
    let permissions = browser.text("#doc-permissionsPolicy").await;
    assert!(trust.contains(&external_id));
    assert!(browser.text("#kit-cli").await.contains("set -euo pipefail"));
    let launch = browser
        .find("#launch-stack")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(
        launch.contains("#/stacks/quickcreate?templateURL="),
        "{launch}"
    );
    // AND the guide's console steps are there, in order, with the suggested names to copy (the
    // role name the kit's tools use too)
    let kit = world
        .api()
        .get(&format!("/destinations/{id}/setup-kit"))
        .await
        .expect(200)
        .json();
    let steps = browser.texts("#console-steps-role li").await;
    assert_eq!(steps.len(), 8, "{steps:?}");
    assert!(
        steps[0].contains("Create policy") && steps[3].contains("Custom trust policy"),
        "{steps:?}"
    );
    let role_name = kit["console"]["roleName"].as_str().unwrap();
    assert_eq!(browser.text("#console-role-name").await, role_name);
    assert_eq!(
        browser.text("#console-policy-name").await,
        kit["console"]["policyName"].as_str().unwrap()
    );
    assert!(role_name.starts_with("DataPlatformDestination-") && role_name.len() <= 64);
    assert!(
        browser
            .eval("return document.querySelector(\"#console-steps button.copy[data-copy-from='console-role-name']\") !== null")
            .await
            .as_bool()
            .unwrap()
    );
    browser.screenshot("step-2-grant-access").await;
    browser.assert_accessible("step 2").await;

    // AND the customer creates the role from the copied documents
    let role_arn = world
        .customer_role_account()
        .create_role(&unique("page-role"), &trust, Some(&permissions))
        .await;

    // WHEN the Role ARN is pasted and Test Connection runs
    browser.click("#step-2 [data-goto='3']").await;
    browser.wait_visible("#step-3").await;
    browser.fill("#roleArn", &role_arn).await;
    browser.click("#test-connection").await;
    wait_for_test_result(&browser).await;
    // THEN every stage passed
    assert_eq!(stage_statuses(&browser).await, owned(&ALL_PASSED));
    assert!(!browser.find("#failure").await.is_displayed().await.unwrap());
    browser.screenshot("step-3-connect-passed").await;
    browser.assert_accessible("step 3 after a pass").await;

    // WHEN the customer saves
    browser.click("#step-3 [data-goto='4']").await;
    browser.wait_visible("#step-4").await;
    assert!(browser.is_enabled("#save").await);
    browser.screenshot("step-4-save").await;
    browser.assert_accessible("step 4").await;
    browser.click("#save").await;
    // THEN the list shows it verified, and the API agrees
    browser
        .wait_visible(&format!("#list-rows tr[data-id='{id}']"))
        .await;
    assert_eq!(row_text(&browser, &id, ".status").await, "Verified");
    assert_eq!(row_text(&browser, &id, ".mode").await, "IAM role");
    assert_eq!(
        row_text(&browser, &id, ".where").await,
        format!("s3://{bucket}/platform/exports/")
    );
    assert!(
        row_text(&browser, &id, ".tested")
            .await
            .starts_with("Passed")
    );
    browser.screenshot("list-verified").await;
    browser.assert_accessible("the list").await;
    let saved = world
        .api()
        .get(&format!("/destinations/{id}"))
        .await
        .expect(200)
        .json();
    assert_eq!(saved["status"], "verified");
    assert_eq!(saved["active"]["roleArn"], role_arn.as_str());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trust_policy_without_the_external_id_shows_the_confused_deputy_failure_and_its_fix() {
    // GIVEN a destination made on the page, and a role whose trust drops the External ID condition
    let (world, base) = serve(|_| {}).await;
    let bucket = world.role_account_bucket().await;
    let mut browser = Browser::start("confused-deputy", &base, DESKTOP.0, DESKTOP.1).await;
    browser.open("/").await;
    use_tenant(&browser).await;
    create_through_the_page(&browser, "Careless", &bucket, "in").await;
    let rendered_trust: Value =
        serde_json::from_str(&browser.text("#doc-trustPolicy").await).unwrap();
    let mut careless_trust = rendered_trust.clone();
    careless_trust["Statement"][0]
        .as_object_mut()
        .unwrap()
        .remove("Condition");
    let role_arn = world
        .customer_role_account()
        .create_role(
            &unique("careless"),
            &careless_trust.to_string(),
            Some(&browser.text("#doc-permissionsPolicy").await),
        )
        .await;

    // WHEN its ARN is tested on the page
    browser.click("#step-2 [data-goto='3']").await;
    browser.fill("#roleArn", &role_arn).await;
    browser.click("#test-connection").await;
    wait_for_test_result(&browser).await;

    // THEN the guard stage failed, nothing after it ran, and the fix is the rendered trust policy
    assert_eq!(
        stage_statuses(&browser).await,
        owned(&[
            ("configuration", "passed"),
            ("confusedDeputyGuard", "failed"),
            ("assumeRole", "skipped"),
            ("locateBucket", "skipped"),
            ("write", "skipped"),
        ])
    );
    browser.wait_visible("#failure").await;
    assert_eq!(
        browser.text("#failure-category").await,
        "Role can be assumed without the External ID"
    );
    assert!(!browser.text("#failure-fix").await.is_empty());
    let fix: Value = serde_json::from_str(&browser.text("#fix-document").await).unwrap();
    assert_eq!(fix, rendered_trust);
    browser.screenshot("step-3-confused-deputy").await;
    browser.assert_accessible("step 3 after a failure").await;
    // AND Save stays disabled
    browser.click("#step-3 [data-goto='4']").await;
    browser.wait_visible("#step-4").await;
    assert!(!browser.is_enabled("#save").await);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_policy_destination_is_connected_through_the_merge_step_on_a_phone() {
    // GIVEN a customer bucket that already has a policy, and a 375 px wide browser
    let (_world, base) = serve(|_| {}).await;
    let customer = Account::create(emulator()).await;
    let bucket = unique("merge");
    customer.create_bucket(&bucket).await;
    let theirs = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AnalystsRead",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{}:root", customer.id)},
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/*"),
        }]
    });
    customer
        .put_bucket_policy(&bucket, &theirs.to_string())
        .await;
    let mut browser = Browser::start("bucket-policy-phone", &base, PHONE.0, PHONE.1).await;
    browser.open("/").await;
    use_tenant(&browser).await;

    // WHEN the customer creates a bucket-policy destination
    browser.click("#new-destination").await;
    browser.fill("#name", "Raw events").await;
    browser.fill("#bucket", &bucket).await;
    browser.fill("#folder", "incoming").await;
    browser.click("label[for='auth-bucket-policy']").await;
    browser.fill("#bucketOwnerAccountId", &customer.id).await;
    browser.assert_fits_the_width("step 1").await;
    browser.screenshot("step-1").await;
    browser
        .assert_accessible("step 1, bucket policy, on a phone")
        .await;
    browser.click("#create-submit").await;
    browser.wait_visible("#merge").await;
    // THEN step 2 has no External ID, and offers the merge
    assert!(
        !browser
            .find("#external-id-block")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    // AND the guide's simple and advanced setups, each a numbered list of console steps
    let headings = browser.texts("#console-steps h4").await;
    assert_eq!(
        headings,
        [
            "Simple setup (the bucket has no policy yet)",
            "Advanced setup (the bucket already has a policy)"
        ]
    );
    let counts = browser
        .eval("return ['#console-steps-simple li', '#console-steps-advanced li'].map(s => document.querySelectorAll(s).length)")
        .await;
    assert_eq!(counts, json!([2, 2]));
    browser.assert_fits_the_width("step 2").await;
    browser.assert_accessible("step 2, bucket policy").await;

    // WHEN their current policy is pasted and merged
    browser
        .fill(
            "#existing-policy",
            &serde_json::to_string_pretty(&theirs).unwrap(),
        )
        .await;
    browser.click("#merge-form button[type=submit]").await;
    browser.wait_visible("#merge-result").await;
    let merged: Value = serde_json::from_str(&browser.text("#merged-policy").await).unwrap();
    // THEN their statement is kept beside ours
    let sids: Vec<&str> = merged["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .collect();
    assert!(sids.contains(&"AnalystsRead"), "{merged}");
    assert_eq!(merged["Statement"].as_array().unwrap().len(), 2, "{merged}");
    browser
        .assert_fits_the_width("step 2 after the merge")
        .await;
    browser.screenshot("step-2-merged").await;
    browser.assert_accessible("step 2 after the merge").await;

    // WHEN the merged policy goes on the bucket and the connection is tested and saved
    customer
        .put_bucket_policy(&bucket, &merged.to_string())
        .await;
    browser.click("#step-2 [data-goto='3']").await;
    browser.wait_visible("#step-3").await;
    assert!(
        !browser
            .find("#role-arn-field")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    browser.click("#test-connection").await;
    wait_for_test_result(&browser).await;
    let stages = stage_statuses(&browser).await;
    assert_eq!(
        stages[1],
        ("confusedDeputyGuard".to_owned(), "skipped".to_owned())
    );
    assert!(
        stages
            .iter()
            .filter(|(s, _)| s != "confusedDeputyGuard")
            .all(|(_, status)| status == "passed"),
        "{stages:?}"
    );
    browser.assert_fits_the_width("step 3").await;
    browser.screenshot("step-3-passed").await;
    browser.assert_accessible("step 3 on a phone").await;
    browser.click("#step-3 [data-goto='4']").await;
    browser.click("#save").await;
    let id_row = "#list-rows tr";
    browser.wait_visible(id_row).await;
    // THEN the list, as cards on a phone, shows it verified
    assert_eq!(browser.text("#list-rows tr .status").await, "Verified");
    assert_eq!(browser.text("#list-rows tr .mode").await, "Bucket policy");
    browser.assert_fits_the_width("the list").await;
    browser.screenshot("list").await;
    browser.assert_accessible("the list on a phone").await;
    assert_eq!(
        customer.object_keys(&bucket).await.len(),
        1,
        "one test object"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_test_from_the_list_checks_a_repaired_saved_destination_and_shows_it_verified() {
    // GIVEN a saved destination found failing (its bucket policy removed), then repaired
    let (world, base) = serve(|_| {}).await;
    let (id, bucket, customer) = crate::deliveries::saved_bucket_policy_destination(&world).await;
    let policy = customer
        .s3()
        .get_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    customer.delete_bucket_policy(&bucket).await;
    let failed = world.api().check_now(&id).await.expect(200).json();
    assert_eq!(failed["status"], "failing");
    customer
        .put_bucket_policy(&bucket, policy.policy().unwrap())
        .await;
    let browser = Browser::start("list-check-now", &base, DESKTOP.0, DESKTOP.1).await;
    open_list_at(&browser, &id).await;
    assert_eq!(row_text(&browser, &id, ".status").await, "Failing");
    // (its last test is the failed check, not the older passing Test Connection)
    let tested = row_text(&browser, &id, ".tested").await;
    assert!(
        tested.starts_with("Failed") && tested.ends_with("(saved configuration)"),
        "{tested}"
    );
    // WHEN the user re-tests it from the list
    browser
        .click(&format!("#list-rows tr[data-id='{id}'] .retest"))
        .await;
    // THEN its saved configuration is checked, the row shows it verified, and the page says
    // which check it ran
    browser
        .wait_until(
            "the check",
            &format!("return document.querySelector(\"#list-rows tr[data-id='{id}'] .status\")?.textContent === 'Verified'"),
        )
        .await;
    browser
        .wait_until(
            "the announcement",
            "return document.getElementById('announcer').textContent.includes('saved configuration checked, passed; status Verified')",
        )
        .await;
    assert!(
        row_text(&browser, &id, ".tested")
            .await
            .starts_with("Passed")
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_shows_the_configuration_with_its_pending_change_the_tests_and_the_trail() {
    // GIVEN a saved destination with a description, then a pending change of its folder
    let (world, base) = serve(|_| {}).await;
    let (id, _, _) = crate::deliveries::saved_bucket_policy_destination(&world).await;
    world
        .api()
        .patch(
            &id,
            json!({"description": "Nightly raw events", "folder": "moved"}),
        )
        .await
        .expect(200);
    let mut browser = Browser::start("history", &base, DESKTOP.0, DESKTOP.1).await;
    open_list_at(&browser, &id).await;
    // (the list says the change is not saved yet)
    assert_eq!(
        row_text(&browser, &id, ".status").await,
        "Verified (changes not saved)"
    );
    // WHEN its history is opened from the list
    browser
        .click(&format!("#list-rows tr[data-id='{id}'] .history-open"))
        .await;
    browser.wait_visible("#history-view").await;
    browser
        .wait_until(
            "the history",
            "return document.querySelectorAll('#history-activity li').length > 0",
        )
        .await;
    // THEN it shows the description, the folder active beside pending (marked changed), the
    // passing test, the trail and no deliveries yet
    assert_eq!(browser.text("#history-title").await, "History: Raw");
    assert_eq!(
        browser.text("#history-description").await,
        "Nightly raw events"
    );
    let folder = browser
        .eval("return [...document.querySelectorAll('#history-configuration tbody tr')].find(r => r.querySelector('th').textContent === 'Folder').innerText")
        .await;
    let folder = folder.as_str().unwrap();
    assert!(
        folder.contains("incoming/") && folder.contains("moved/"),
        "{folder}"
    );
    assert!(
        browser
            .eval("return document.querySelector('#history-configuration td.changed')?.textContent.includes('moved/') === true")
            .await
            .as_bool()
            .unwrap()
    );
    let tests = browser.texts("#history-tests li").await;
    assert!(tests.iter().any(|t| t.ends_with(": passed")), "{tests:?}");
    let trail = browser.texts("#history-activity li").await.join("|");
    assert!(
        trail.contains("created") && trail.contains("saved"),
        "{trail}"
    );
    assert!(
        browser
            .find("#history-deliveries-empty")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    browser.screenshot("history").await;
    browser.assert_accessible("the history").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_edits_re_tests_and_deletes_only_after_confirmation() {
    // GIVEN two role-mode destinations without a role yet
    let (world, base) = serve(|_| {}).await;
    let keep = world
        .api()
        .create(json!({"name": "Keep", "bucket": "keep-bucket", "authMode": "iamRole"}))
        .await;
    let doomed = world
        .api()
        .create(json!({"name": "Doomed", "bucket": "doomed-bucket", "authMode": "iamRole"}))
        .await;
    let (keep, doomed) = (
        keep["id"].as_str().unwrap().to_owned(),
        doomed["id"].as_str().unwrap().to_owned(),
    );
    let mut browser = Browser::start("list-actions", &base, DESKTOP.0, DESKTOP.1).await;
    open_list_at(&browser, &keep).await;
    assert_eq!(row_text(&browser, &keep, ".status").await, "Draft");
    assert_eq!(row_text(&browser, &keep, ".tested").await, "Never");

    // WHEN one is re-tested from the list
    browser
        .click(&format!("#list-rows tr[data-id='{keep}'] .retest"))
        .await;
    // THEN its row shows the failed test and why
    browser
        .wait_until(
            "the re-test",
            &format!("return document.querySelector(\"#list-rows tr[data-id='{keep}'] .tested\")?.textContent.startsWith('Failed') === true"),
        )
        .await;
    assert_eq!(
        row_text(&browser, &keep, ".failure").await,
        "Configuration incomplete or invalid"
    );

    // WHEN delete is chosen and then cancelled
    browser
        .click(&format!("#list-rows tr[data-id='{doomed}'] .delete"))
        .await;
    browser.wait_visible("#confirm-delete").await;
    assert!(
        browser
            .text("#confirm-delete-text")
            .await
            .contains("Doomed")
    );
    browser.screenshot("confirm-delete").await;
    browser.assert_accessible("the delete confirmation").await;
    browser
        .click("#confirm-delete button[value='cancel']")
        .await;
    // THEN nothing is deleted
    world
        .api()
        .get(&format!("/destinations/{doomed}"))
        .await
        .expect(200);

    // WHEN it is confirmed
    browser
        .click(&format!("#list-rows tr[data-id='{doomed}'] .delete"))
        .await;
    browser.click("#confirm-delete-yes").await;
    // THEN the row goes, and so does the destination
    browser
        .wait_until(
            "the row to go",
            &format!("return !document.querySelector(\"#list-rows tr[data-id='{doomed}']\")"),
        )
        .await;
    world
        .api()
        .get(&format!("/destinations/{doomed}"))
        .await
        .expect(404);

    // WHEN the other is edited: it has no role yet, so the page opens at Grant access
    browser
        .click(&format!("#list-rows tr[data-id='{keep}'] .edit"))
        .await;
    browser.wait_visible("#step-2 .doc pre").await;
    assert_eq!(wizard_destination(&browser).await, keep);
    assert_eq!(browser.text("#wizard-title").await, "Destination: Keep");
    browser.close().await;
}

/// The focused element's id, and whether its focus is drawn.
async fn focused(browser: &Browser) -> (String, bool) {
    let state = browser
        .eval("const e = document.activeElement; const s = getComputedStyle(e); return [e.id || e.tagName, s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0];")
        .await;
    (
        state[0].as_str().unwrap().to_owned(),
        state[1].as_bool().unwrap(),
    )
}

/// Presses Tab until `id` has the focus, checking that every stop shows where it is.
async fn tab_to(browser: &Browser, id: &str) {
    for _ in 0..40 {
        browser
            .client
            .active_element()
            .await
            .unwrap()
            .send_keys(TAB)
            .await
            .unwrap();
        let (now, drawn) = focused(browser).await;
        assert!(drawn, "{now} has the focus but shows no focus indicator");
        if now == id {
            return;
        }
    }
    panic!("Tab never reached #{id}");
}

async fn type_here(browser: &Browser, text: &str) {
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_can_be_created_with_the_keyboard_alone() {
    // GIVEN the page and a keyboard
    let (world, base) = serve(|_| {}).await;
    let browser = Browser::start("keyboard", &base, DESKTOP.0, DESKTOP.1).await;
    browser.open("/").await;

    // WHEN the customer tabs and types their way through the tenant and step 1
    tab_to(&browser, "tenant").await;
    type_here(&browser, &format!("{TENANT}{ENTER}")).await;
    browser.wait_visible("#list-view").await;
    tab_to(&browser, "new-destination").await;
    type_here(&browser, ENTER).await;
    browser.wait_visible("#step-1").await;
    // THEN the focus moved to the step's heading
    assert_eq!(focused(&browser).await.0, "step-1-title");
    tab_to(&browser, "name").await;
    type_here(&browser, "Typed").await;
    tab_to(&browser, "bucket").await;
    type_here(&browser, "typed-bucket").await;
    tab_to(&browser, "create-submit").await;
    type_here(&browser, ENTER).await;

    // THEN the destination exists and step 2 has the focus
    browser.wait_visible("#step-2 .doc pre").await;
    assert_eq!(focused(&browser).await.0, "step-2-title");
    let id = wizard_destination(&browser).await;
    let stored = world
        .api()
        .get(&format!("/destinations/{id}"))
        .await
        .expect(200)
        .json();
    assert_eq!(stored["name"], "Typed");
    assert_eq!(stored["bucket"], "typed-bucket");
    browser
        .assert_accessible("step 2, reached by keyboard")
        .await;
    browser.close().await;
}

/// The page served with `env` set on every function that reads it (a low limit, say).
async fn serve_with_env(env: &[(&str, &str)]) -> (World, String) {
    let mut world = World::new().await;
    // Only the served functions read `env`; the world's own API (for set-up) keeps the defaults.
    for (name, value) in env {
        world.platform.set_env(name, value);
    }
    let services = Box::pin(Services::wire(&world.platform, quick_check_settings())).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(dev_support::server::serve(
        listener,
        Arc::new(services),
        std::future::pending(),
    ));
    (world, base)
}

/// A role destination made on the page, at step 3 (Connect).
async fn at_connect(browser: &Browser, bucket: &str) -> String {
    browser.open("/").await;
    use_tenant(browser).await;
    let id = create_through_the_page(browser, "Errors", bucket, "in").await;
    browser.click("#step-2 [data-goto='3']").await;
    browser.wait_visible("#step-3").await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_over_the_limit_says_when_to_retry() {
    // GIVEN one Test Connection per tenant per minute
    let (world, base) = serve_with_env(&[("TEST_CONNECTIONS_PER_MINUTE", "1")]).await;
    let bucket = world.role_account_bucket().await;
    let browser = Browser::start("rate-limited", &base, DESKTOP.0, DESKTOP.1).await;
    at_connect(&browser, &bucket).await;
    support::api::within_one_rate_window().await;
    // WHEN the user tests twice
    browser.click("#test-connection").await;
    browser.wait_visible("#test-result").await;
    // (the first has finished: its button is usable again)
    browser
        .wait_until(
            "the first test",
            "return !document.getElementById('test-connection').hasAttribute('aria-busy')",
        )
        .await;
    browser.click("#test-connection").await;
    // THEN the second says the limit was reached and when to retry, in the step's alert
    browser
        .wait_until(
            "the rate-limit message",
            "return !document.getElementById('connect-errors').hidden",
        )
        .await;
    let message = browser.text("#connect-errors").await;
    assert!(
        message.contains("Too many") && message.contains("retry in"),
        "{message}"
    );
    browser.assert_accessible("step 3, rate limited").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_over_someone_elses_change_shows_their_version() {
    // GIVEN step 3 open on a destination, which someone else then changes
    let (world, base) = serve(|_| {}).await;
    let bucket = world.role_account_bucket().await;
    let browser = Browser::start("conflict", &base, DESKTOP.0, DESKTOP.1).await;
    let id = at_connect(&browser, &bucket).await;
    world
        .api()
        .patch(&id, json!({"folder": "theirs"}))
        .await
        .expect(200);
    // WHEN the user changes the folder, confirms the documents it changes, and tests
    browser.fill("#connect-folder", "mine").await;
    browser.click("#test-connection").await;
    dialog_open(&browser, true).await;
    browser.click("#edit-review-apply").await;
    // THEN the page says someone else changed it and what, shows their version, and kept nothing
    // of ours
    browser
        .wait_until(
            "the conflict message",
            "return !document.getElementById('connect-errors').hidden",
        )
        .await;
    // (what they changed, field by field)
    let message = browser.text("#connect-errors").await;
    assert!(
        message.contains("Someone else changed this destination: folder “in/” → “theirs/”."),
        "{message}"
    );
    browser.assert_accessible("step 3 after a conflict").await;
    assert_eq!(browser.value("#connect-folder").await, "theirs/");
    let stored = world.api().get(&format!("/destinations/{id}")).await.json();
    assert_eq!(stored["folder"], "theirs/");
    browser.close().await;
}

/// An OpenID Connect issuer: `/authorize` redirects back with a code for the challenge it was
/// given (or, asked with `prompt=none` before anyone signed in, with `login_required`); `/token`
/// trades the code only for the verifier that hashes to it, for an ID token that carries the
/// nonce of the sign-in (unless told to replay another's) and that the local server then
/// accepts for tenant-a, as a writer or a reader (the JWT authorizer's part).
#[derive(Default)]
struct Issuer {
    challenge: Option<String>,
    nonce: Option<String>,
    exchanged: usize,
    /// Whether a user signed in here, so a silent sign-in can succeed.
    session: bool,
    silent_answers: Vec<&'static str>,
    refused: Vec<String>,
    /// The next ID token carries another sign-in's nonce (a replayed token).
    replay: bool,
    reader: bool,
}

/// An ID token as the page sees it: only its claims matter here (API Gateway checks signatures).
fn id_token(claims: &Value) -> String {
    let part = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    format!(
        "{}.{}.signature",
        part(&json!({"alg": "RS256"})),
        part(claims)
    )
}

async fn issuer_answer(
    issuer: Arc<Mutex<Issuer>>,
    tokens: BearerTokens,
    page: String,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let query: BTreeMap<String, String> =
        shared::http::parse_query(parts.uri.query().unwrap_or(""))
            .into_iter()
            .collect();
    let mut issuer = issuer.lock().unwrap();
    let respond = |status: u16, body: String| {
        Response::builder()
            .status(status)
            .header("access-control-allow-origin", page.as_str())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    let redirect = |location: String| {
        Response::builder()
            .status(302)
            .header("location", location)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    match parts.uri.path() {
        "/authorize" => {
            let expected = [
                ("response_type", "code"),
                ("client_id", "setup-page"),
                ("code_challenge_method", "S256"),
                ("scope", "openid"),
            ];
            let back = format!("{page}/");
            let state = query.get("state").cloned().unwrap_or_default();
            if expected
                .iter()
                .any(|(k, v)| query.get(*k).map(String::as_str) != Some(*v))
                || query.get("redirect_uri") != Some(&back)
                || query.get("nonce").is_none_or(|n| n.len() < 43)
            {
                issuer.refused.push(format!("authorize {query:?}"));
                return Ok(respond(400, "{}".into()));
            }
            let silent = query.get("prompt").map(String::as_str) == Some("none");
            if silent && !issuer.session {
                issuer.silent_answers.push("login_required");
                return Ok(redirect(format!(
                    "{back}?error=login_required&state={state}"
                )));
            }
            if silent {
                issuer.silent_answers.push("code");
            }
            issuer.session = true;
            issuer.challenge = query.get("code_challenge").cloned();
            issuer.nonce = query.get("nonce").cloned();
            Ok(redirect(format!("{back}?code=the-code&state={state}")))
        }
        "/token" => {
            let form: BTreeMap<String, String> =
                shared::http::parse_query(&String::from_utf8_lossy(&body))
                    .into_iter()
                    .collect();
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let hashed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()));
            let valid = form.get("grant_type").map(String::as_str) == Some("authorization_code")
                && form.get("code").map(String::as_str) == Some("the-code")
                && form.get("client_id").map(String::as_str) == Some("setup-page")
                && form.get("redirect_uri") == Some(&format!("{page}/"))
                && issuer.challenge.as_deref() == Some(hashed.as_str())
                && verifier.len() >= 43;
            if !valid {
                issuer.refused.push(format!("token {form:?}"));
                return Ok(respond(400, r#"{"error":"invalid_grant"}"#.into()));
            }
            issuer.exchanged += 1;
            let nonce = if issuer.replay {
                "a-nonce-of-another-sign-in".to_owned()
            } else {
                issuer.nonce.clone().unwrap_or_default()
            };
            let token =
                id_token(&json!({"sub": format!("user-{}", issuer.exchanged), "nonce": nonce}));
            let access = if issuer.reader {
                Access::Read
            } else {
                Access::Write
            };
            tokens
                .lock()
                .unwrap()
                .insert(token.clone(), (TenantId::new(TENANT).unwrap(), access));
            Ok(respond(
                200,
                json!({"id_token": token, "access_token": "access", "token_type": "Bearer", "expires_in": 3600}).to_string(),
            ))
        }
        _ => Ok(respond(404, "{}".into())),
    }
}

/// The page as deployed: configured for the issuer, which answers on its own port. Returns the
/// world, the page's origin and the issuer.
async fn deployed_page() -> (World, String, Arc<Mutex<Issuer>>) {
    let issuer = Arc::new(Mutex::new(Issuer::default()));
    let tokens = BearerTokens::default();
    let issuer_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer_url = format!("http://{}", issuer_listener.local_addr().unwrap());
    let page_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let page_port = page_listener.local_addr().unwrap().port();
    drop(page_listener);
    let page_origin = format!("http://127.0.0.1:{page_port}");
    {
        let (issuer, tokens, page_origin) = (issuer.clone(), tokens.clone(), page_origin.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = issuer_listener.accept().await.unwrap();
                let (issuer, tokens, page_origin) =
                    (issuer.clone(), tokens.clone(), page_origin.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |r| {
                        issuer_answer(issuer.clone(), tokens.clone(), page_origin.clone(), r)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    }
    let world = World::new().await;
    let mut services = Box::pin(Services::wire(&world.platform, quick_check_settings())).await;
    services.page = Page::new(SignIn::Oidc(Oidc {
        client_id: "setup-page".into(),
        authorization_endpoint: format!("{issuer_url}/authorize"),
        token_endpoint: format!("{issuer_url}/token"),
        scope: "openid".into(),
    }));
    services.bearer_tokens = tokens;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", page_port))
        .await
        .unwrap();
    tokio::spawn(dev_support::server::serve(
        listener,
        Arc::new(services),
        std::future::pending(),
    ));
    (world, page_origin, issuer)
}

async fn is_displayed(browser: &Browser, css: &str) -> bool {
    browser.find(css).await.is_displayed().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_the_page_signs_in_with_code_pkce_and_nonce_and_keeps_the_token_in_memory() {
    // GIVEN the deployed page, its issuer, and a destination of tenant-a
    let (world, page_origin, issuer) = deployed_page().await;
    world
        .api()
        .create(json!({"name": "Signed-in only", "bucket": "signed-bucket", "authMode": "iamRole"}))
        .await;
    let mut browser = Browser::start("sign-in", &page_origin, DESKTOP.0, DESKTOP.1).await;
    // WHEN it is opened with no session at the issuer
    browser.open("/").await;
    // THEN it tried a silent sign-in, was told to ask, and shows only the button
    browser.wait_visible("#sign-in").await;
    assert_eq!(issuer.lock().unwrap().silent_answers, ["login_required"]);
    assert!(!is_displayed(&browser, "#tenant-form").await);
    assert!(!is_displayed(&browser, "#list-view").await);
    assert!(!is_displayed(&browser, "#page-error").await);
    browser.assert_accessible("signed out").await;

    // WHEN the customer signs in
    browser.click("#sign-in").await;
    // THEN the issuer traded the code for the matching verifier, the ID token carried the
    // sign-in's nonce, and the list is the tenant's
    browser.wait_visible("#list-rows tr").await;
    {
        let issuer = issuer.lock().unwrap();
        assert_eq!(issuer.exchanged, 1, "refused: {:?}", issuer.refused);
        assert!(issuer.refused.is_empty(), "{:?}", issuer.refused);
    }
    assert_eq!(browser.text("#list-rows tr .name").await, "Signed-in only");
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(
        url.query(),
        None,
        "the code is not left in the address: {url}"
    );
    browser.wait_visible("#signed-in").await;
    // AND the token is nowhere but in the page's memory
    let stored = browser
        .eval("return JSON.stringify([Object.keys(sessionStorage), Object.keys(localStorage), document.cookie])")
        .await;
    assert_eq!(stored, json!(r#"[[],[],""]"#), "{stored}");
    browser.screenshot("signed-in").await;
    browser.assert_accessible("signed in").await;

    // WHEN the page is loaded again
    browser.open("/").await;
    // THEN the issuer's session signs it in again without a click
    browser.wait_visible("#list-rows tr").await;
    assert_eq!(
        issuer.lock().unwrap().silent_answers,
        ["login_required", "code"]
    );
    assert_eq!(issuer.lock().unwrap().exchanged, 2);

    // WHEN the customer signs out, and loads the page again
    browser.click("#sign-out").await;
    browser.wait_visible("#sign-in").await;
    assert!(!is_displayed(&browser, "#list-view").await);
    browser.open("/").await;
    // THEN signed out stays signed out: no silent sign-in
    browser.wait_visible("#sign-in").await;
    assert_eq!(issuer.lock().unwrap().silent_answers.len(), 2);
    assert_eq!(issuer.lock().unwrap().exchanged, 2);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_id_token_is_refused_and_a_reader_is_offered_nothing_to_change() {
    // GIVEN the deployed page and a destination of tenant-a
    let (world, page_origin, issuer) = deployed_page().await;
    let created = world
        .api()
        .create(json!({"name": "Read me", "bucket": "read-bucket", "authMode": "iamRole"}))
        .await;
    let mut browser = Browser::start("sign-in-reader", &page_origin, DESKTOP.0, DESKTOP.1).await;
    browser.open("/").await;
    browser.wait_visible("#sign-in").await;
    // WHEN the issuer's answer carries an ID token issued for another sign-in
    issuer.lock().unwrap().replay = true;
    browser.click("#sign-in").await;
    // THEN the page refuses it and stays signed out
    browser.wait_visible("#page-error").await;
    assert!(
        browser
            .text("#page-error")
            .await
            .contains("not issued for this sign-in"),
        "{}",
        browser.text("#page-error").await
    );
    assert!(is_displayed(&browser, "#sign-in").await);
    assert!(!is_displayed(&browser, "#list-view").await);
    assert_eq!(issuer.lock().unwrap().exchanged, 1);

    // WHEN a user whose token lacks the write permission signs in
    {
        let mut issuer = issuer.lock().unwrap();
        issuer.replay = false;
        issuer.reader = true;
    }
    browser.click("#sign-in").await;
    browser.wait_visible("#list-rows tr").await;
    // THEN they see the list, told why they cannot change it, and offered only to view
    browser.wait_visible("#read-only-note").await;
    for hidden in [
        "#new-destination",
        "#list-rows tr .retest",
        "#list-rows tr .delete",
    ] {
        assert!(
            !is_displayed(&browser, hidden).await,
            "{hidden} is offered to a reader"
        );
    }
    assert_eq!(browser.text("#list-rows tr .edit").await, "View");
    browser.screenshot("reader-list").await;
    browser.assert_accessible("reader list").await;
    // AND a destination's steps show its documents and latest state, with nothing to submit
    browser.click("#list-rows tr .edit").await;
    browser.wait_visible("#step-2 .doc").await;
    browser.click("#steps button[data-step='3']").await;
    browser.wait_visible("#step-3").await;
    for hidden in ["#connect-form", "#test-connection"] {
        assert!(
            !is_displayed(&browser, hidden).await,
            "{hidden} is offered to a reader"
        );
    }
    browser.click("#steps button[data-step='4']").await;
    browser.wait_visible("#step-4").await;
    assert!(!is_displayed(&browser, "#save").await);
    browser.assert_accessible("reader steps").await;
    // AND the destination was never changed
    let stored = world
        .api()
        .get(&format!(
            "/destinations/{}",
            created["id"].as_str().unwrap()
        ))
        .await
        .expect(200)
        .json();
    assert_eq!(stored["version"], created["version"]);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_and_the_save_step_show_the_destinations_deliveries() {
    // GIVEN a saved bucket-policy destination with a delivered file, then one whose staged file
    // is missing (its attempt failed and waits for a retry)
    let (world, base) = serve(|_| {}).await;
    let (id, _, _) = crate::deliveries::saved_bucket_policy_destination(&world).await;
    world
        .stage("tenant-a/a.csv", Bytes::from_static(b"a,b"))
        .await;
    for (delivery, key) in [("d-1", "tenant-a/a.csv"), ("d-2", "tenant-a/missing.csv")] {
        world
            .api()
            .request_delivery(json!({
                "tenantId": TENANT, "destinationId": id, "deliveryId": delivery,
                "source": {"bucket": world.platform.staging_bucket, "key": key},
                "name": "orders.csv"
            }))
            .await
            .expect(202);
        world.settle().await;
    }
    let delivered = world
        .api()
        .get(&format!("/destinations/{id}/deliveries/d-1"))
        .await
        .expect(200)
        .json();
    assert_eq!(delivered["status"], "delivered");
    let waiting = world
        .api()
        .get(&format!("/destinations/{id}/deliveries/d-2"))
        .await
        .expect(200)
        .json();
    assert_eq!(waiting["status"], "failed");
    // WHEN the tenant opens the page
    let mut browser = Browser::start("deliveries", &base, DESKTOP.0, DESKTOP.1).await;
    browser.open("/").await;
    use_tenant(&browser).await;
    // THEN the list shows the last delivery, and why it has not arrived yet
    browser
        .wait_until(
            "the last delivery",
            &format!("return document.querySelector(\"#list-rows tr[data-id='{id}'] .delivery\")?.textContent.length > 0"),
        )
        .await;
    let last = row_text(&browser, &id, ".delivery").await;
    assert!(
        last.starts_with("Failed, will retry (Temporary AWS error), "),
        "{last}"
    );
    // WHEN it opens the destination's Save step
    browser
        .click(&format!("#list-rows tr[data-id='{id}'] .edit"))
        .await;
    browser.wait_visible("#step-3").await;
    browser.click("#steps button[data-step='4']").await;
    browser.wait_visible("#deliveries-table-wrap").await;
    // THEN its recent deliveries are listed newest first, with status, key and size
    let rows = browser
        .eval("return [...document.querySelectorAll('#delivery-rows tr')].map((tr) => [tr.dataset.id, tr.querySelector('.delivery-status').textContent, tr.querySelector('.key').textContent, tr.querySelector('.size').textContent])")
        .await;
    assert_eq!(
        rows,
        json!([
            [
                "d-2",
                "Failed, will retry (Temporary AWS error)",
                waiting["key"],
                ""
            ],
            ["d-1", "Delivered", delivered["key"], "3 bytes"]
        ])
    );
    browser.screenshot("recent-deliveries").await;
    browser.assert_accessible("the recent deliveries").await;
    browser.close().await;
}

async fn dialog_open(browser: &Browser, open: bool) {
    browser
        .wait_until(
            if open {
                "the dialog"
            } else {
                "the dialog closed"
            },
            &format!("return document.getElementById('edit-review').open === {open}"),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_detail_is_editable_and_a_change_to_the_documents_is_shown_before_it_is_made() {
    // GIVEN a saved bucket-policy destination, opened from the list and then its step 1
    let (world, base) = serve(|_| {}).await;
    let (id, _, _) = crate::deliveries::saved_bucket_policy_destination(&world).await;
    let mut browser = Browser::start("edit-details", &base, DESKTOP.0, DESKTOP.1).await;
    open_list_at(&browser, &id).await;
    browser
        .click(&format!("#list-rows tr[data-id='{id}'] .edit"))
        .await;
    browser.click("#step-1-button").await;
    browser.wait_visible("#step-1").await;
    assert_eq!(browser.text("#step-1-title").await, "Step 1. Details");
    assert_eq!(browser.value("#name").await, "Raw");
    assert_eq!(browser.value("#folder").await, "incoming");
    assert!(!browser.is_enabled("#auth-iam-role").await);
    // WHEN the user changes what needs no document: name, description, key template
    browser.fill("#name", "Raw events").await;
    browser.fill("#description", "Nightly exports").await;
    browser
        .eval("document.querySelector('#create-form details').open = true")
        .await;
    browser
        .fill("#objectKeyTemplate", "{folder}{yyyy}/{deliveryId}.csv")
        .await;
    browser.click("#create-submit").await;
    // THEN it is made at once, without asking, and said so
    browser.wait_visible("#details-status").await;
    assert!(browser.text("#details-status").await.starts_with("Changed"));
    assert!(
        !browser
            .eval("return document.getElementById('edit-review').open")
            .await
            .as_bool()
            .unwrap()
    );
    let stored = world.api().get(&format!("/destinations/{id}")).await.json();
    assert_eq!(stored["name"], "Raw events");
    assert_eq!(stored["description"], "Nightly exports");
    assert_eq!(
        stored["objectKeyTemplate"],
        "{folder}{yyyy}/{deliveryId}.csv"
    );
    assert_eq!(stored["hasPendingChanges"], false, "{stored}");
    // WHEN the user moves it to another folder
    browser.fill("#folder", "moved").await;
    browser.click("#create-submit").await;
    // THEN before anything is changed the page shows the documents to apply again, with the
    // changed lines marked
    dialog_open(&browser, true).await;
    let added = browser.texts("#edit-review-documents ins.line").await;
    let removed = browser.texts("#edit-review-documents del.line").await;
    assert!(added.iter().any(|l| l.contains("/moved/*")), "{added:?}");
    assert!(
        removed.iter().any(|l| l.contains("/incoming/*")),
        "{removed:?}"
    );
    assert!(added.iter().all(|l| l.starts_with('+')), "{added:?}");
    // (a replaced line: the old one first, then the new one, as diffs show them)
    let first_marked = browser
        .eval("return document.querySelector('#edit-review-documents pre .line:is(ins, del)').textContent")
        .await;
    assert!(
        first_marked.as_str().unwrap().contains("/incoming/*"),
        "{first_marked}"
    );
    let kinds = browser
        .eval("return [...document.querySelectorAll('#edit-review-documents pre')].map((p) => p.dataset.kind)")
        .await;
    assert_eq!(kinds, json!(["bucketPolicy", "bucketPolicyStatement"]));
    browser
        .assert_accessible("an edit's changed documents")
        .await;
    browser.screenshot("edit-review").await;
    // WHEN they keep editing, nothing is changed
    browser.click("#edit-review button[value='cancel']").await;
    dialog_open(&browser, false).await;
    let stored = world.api().get(&format!("/destinations/{id}")).await.json();
    assert_eq!(stored["folder"], "incoming/");
    // WHEN they make the change after all
    browser.click("#create-submit").await;
    dialog_open(&browser, true).await;
    browser.click("#edit-review-apply").await;
    // THEN it is a pending change of the saved destination, and step 2 shows the new documents
    browser.wait_visible("#step-2 #doc-bucketPolicy").await;
    assert!(browser.text("#doc-bucketPolicy").await.contains("/moved/*"));
    let stored = world.api().get(&format!("/destinations/{id}")).await.json();
    assert_eq!(stored["folder"], "moved/");
    assert_eq!(stored["hasPendingChanges"], true);
    assert_eq!(stored["active"]["folder"], "incoming/");
    // AND step 3's edits ask the same way before they are made and tested
    browser.click("#step-2 [data-goto='3']").await;
    browser.fill("#connect-folder", "incoming").await;
    browser.click("#test-connection").await;
    dialog_open(&browser, true).await;
    assert_eq!(
        browser.text("#edit-review-apply").await,
        "Make the change and test"
    );
    browser.click("#edit-review button[value='cancel']").await;
    dialog_open(&browser, false).await;
    assert!(
        !browser
            .eval("return document.getElementById('test-result').hidden === false")
            .await
            .as_bool()
            .unwrap()
    );
    let stored = world.api().get(&format!("/destinations/{id}")).await.json();
    assert_eq!(stored["folder"], "moved/");
    // AND a new destination starts from an empty form, not from these details
    browser.click("#back-to-list").await;
    browser.click("#new-destination").await;
    browser.wait_visible("#step-1").await;
    assert_eq!(
        browser.text("#step-1-title").await,
        "Step 1. New destination"
    );
    assert_eq!(browser.value("#name").await, "");
    assert_eq!(browser.value("#folder").await, "");
    assert!(browser.is_enabled("#auth-iam-role").await);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_lost_answer_keeps_what_was_typed_and_a_retry_creates_one_destination() {
    // GIVEN step 1 filled in, and a browser whose next two creates fail: the first answered by
    // the gateway with a 500 (the function failed), the second handled by the service but its
    // answer lost on the way back (the connection dropped)
    let (world, base) = serve(|_| {}).await;
    let bucket = world.role_account_bucket().await;
    let name = unique("Retry");
    let mut browser = Browser::start("lost-answers", &base, DESKTOP.0, DESKTOP.1).await;
    browser.open("/").await;
    use_tenant(&browser).await;
    browser.click("#new-destination").await;
    browser.fill("#name", &name).await;
    browser.fill("#bucket", &bucket).await;
    browser.fill("#folder", "in").await;
    browser
        .eval(
            "const real = window.fetch;
             const faults = ['gateway-500', 'answer-lost'];
             window.fetch = async (input, init) => {
               const creating = init?.method === 'POST' && String(input) === '/destinations';
               const fault = creating ? faults.shift() : undefined;
               if (fault === 'gateway-500') {
                 return new Response('{\"message\":\"Internal Server Error\"}', { status: 500, headers: { 'Content-Type': 'application/json' } });
               }
               const response = await real(input, init);
               if (fault === 'answer-lost') throw new TypeError('Failed to fetch');
               return response;
             };",
        )
        .await;
    for (fault, message) in [
        (
            "the gateway's 500",
            "could not answer (HTTP 500: Internal Server Error)",
        ),
        ("the lost answer", "could not be reached"),
    ] {
        // WHEN the user creates
        browser.click("#create-submit").await;
        // THEN the step says what happened and that nothing typed is lost, and it is not
        browser
            .wait_until(
                message,
                &format!("return document.getElementById('create-errors').textContent.includes('{message}')"),
            )
            .await;
        let alert = browser.text("#create-errors").await;
        assert!(
            alert.contains("Nothing you typed is lost"),
            "{fault}: {alert}"
        );
        assert_eq!(browser.value("#name").await, name, "{fault}");
        assert_eq!(browser.value("#bucket").await, bucket, "{fault}");
        assert_eq!(browser.value("#folder").await, "in", "{fault}");
        assert!(browser.is_enabled("#create-submit").await, "{fault}");
        browser
            .assert_accessible(&format!("step 1 after {fault}"))
            .await;
        if fault == "the lost answer" {
            browser.screenshot("step-1-answer-lost").await;
        }
        // (the alert is cleared before the next attempt)
        browser
            .eval("document.getElementById('create-errors').replaceChildren()")
            .await;
    }
    // WHEN the user tries again
    browser.click("#create-submit").await;
    // THEN the destination is there, once: the retry carried the same Idempotency-Key as the
    // attempt whose answer was lost
    browser.wait_visible("#step-2 .doc pre").await;
    let listed = world.api().get("/destinations").await.json();
    let named: Vec<&Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["name"] == name.as_str())
        .collect();
    assert_eq!(named.len(), 1, "{listed}");
    assert_eq!(
        named[0]["id"].as_str().unwrap(),
        wizard_destination(&browser).await
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_id_is_replaced_from_the_page_start_to_completion() {
    // GIVEN a saved role destination whose role was made from the rendered documents, open at
    // step 2
    let (world, base) = serve(|_| {}).await;
    let (id, _) = Box::pin(crate::deliveries::saved_role_destination(&world)).await;
    let stored = world.api().get(&format!("/destinations/{id}")).await.json();
    let (current, role_arn) = (
        stored["externalId"].as_str().unwrap().to_owned(),
        stored["roleArn"].as_str().unwrap().to_owned(),
    );
    let mut browser = Browser::start("rotation", &base, DESKTOP.0, DESKTOP.1).await;
    open_list_at(&browser, &id).await;
    browser
        .click(&format!("#list-rows tr[data-id='{id}'] .edit"))
        .await;
    browser.click("#steps [data-step='2']").await;
    browser.wait_visible("#rotation-start").await;
    // WHEN the user starts replacing the External ID
    browser.click("#rotation-start").await;
    // THEN the next ID shows beside the current one, the trust policy and the stack update accept
    // both, and completion waits for a test
    browser.wait_visible("#rotation-open").await;
    let next = browser.value("#next-external-id").await;
    assert_ne!(next, current);
    assert_eq!(browser.value("#external-id").await, current);
    let trust: Value = serde_json::from_str(&browser.text("#doc-trustPolicy").await).unwrap();
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        json!([current, next])
    );
    assert!(browser.text("#kit-update").await.contains(&next));
    assert!(!browser.is_enabled("#rotation-complete").await);
    assert!(
        browser
            .text("#rotation-state")
            .await
            .starts_with("Not proven yet")
    );
    browser.assert_accessible("step 2, a rotation open").await;
    browser.screenshot("step-2-rotation-open").await;
    // WHEN the customer applies that trust policy and tests in step 3
    crate::rotation::set_trust(
        &world,
        &role_arn,
        &dev_support::platform::customer_document(&browser.text("#doc-trustPolicy").await),
    )
    .await;
    browser.click("#step-2 [data-goto='3']").await;
    browser.wait_visible("#rotation-test-note").await;
    browser.click("#test-connection").await;
    wait_for_test_result(&browser).await;
    assert_eq!(stage_statuses(&browser).await, owned(&ALL_PASSED));
    // THEN step 2 says the next ID is proven, and completing makes it the External ID
    browser.click("#steps [data-step='2']").await;
    browser
        .wait_until(
            "the proof",
            "return document.getElementById('rotation-state').textContent.startsWith('Proven')",
        )
        .await;
    browser.click("#rotation-complete").await;
    browser
        .wait_until(
            "the completed rotation",
            &format!("return document.getElementById('external-id').value === '{next}'"),
        )
        .await;
    assert!(
        browser
            .eval("return document.getElementById('rotation-open').hidden")
            .await
            .as_bool()
            .unwrap()
    );
    let retired = browser.text("#rotation-retired").await;
    assert!(
        retired.contains("Remove the External ID retired on"),
        "{retired}"
    );
    assert!(!browser.visible_text().await.contains(&current));
    browser
        .assert_accessible("step 2, a rotation completed")
        .await;
    let stored = world.api().get(&format!("/destinations/{id}")).await.json();
    assert_eq!(stored["externalId"], next.as_str());
    browser.close().await;
}
