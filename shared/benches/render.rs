//! Policy rendering speed, beside the cost of serialising the same JSON from a prebuilt value.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use time::OffsetDateTime;

use shared::config::PlatformPrincipals;
use shared::domain::*;
use shared::policy::{render, to_pretty_json};

fn destination() -> Destination {
    Destination::new_draft(
        DestinationId::generate(),
        TenantId::new("tenant-a").unwrap(),
        NewDestination {
            name: DestinationName::new("Lake").unwrap(),
            description: Description::default(),
            bucket: BucketName::new("acme-analytics-exports").unwrap(),
            region: Some(Region::new("eu-west-1").unwrap()),
            folder: Folder::new("platform/exports").unwrap(),
            auth: AuthModeKind::IamRole,
            kms_key: Some(
                KmsKeyArn::new(
                    "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                )
                .unwrap(),
            ),
            bucket_owner: None,
        },
        OffsetDateTime::now_utc(),
    )
    .unwrap()
}

fn rendering(c: &mut Criterion) {
    let d = destination();
    let principals =
        PlatformPrincipals::parse("arn:aws:iam::111111111111:role/destinations-platform-connector")
            .unwrap();
    let prebuilt = serde_json::to_value(render(&d, &principals).unwrap()).unwrap();
    let mut group = c.benchmark_group("render");
    group.bench_function("iam_role_documents", |b| {
        b.iter(|| to_pretty_json(&render(black_box(&d), black_box(&principals)).unwrap()))
    });
    group.bench_function("baseline_serialise_same_json", |b| {
        b.iter(|| to_pretty_json(black_box(&prebuilt)))
    });
    group.finish();
}

criterion_group!(benches, rendering);
criterion_main!(benches);
