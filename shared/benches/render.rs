//! Policy rendering speed, beside the cost of serialising the same JSON from a prebuilt value.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use shared::policy::{render, to_pretty_json};
use shared::testing::DestinationBuilder;

fn rendering(c: &mut Criterion) {
    let d = DestinationBuilder::new(shared::domain::AuthModeKind::IamRole)
        .bucket("acme-analytics-exports")
        .region("eu-west-1")
        .folder("platform/exports")
        .kms_key("arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab")
        .build();
    let platform = shared::testing::platform();
    let prebuilt = serde_json::to_value(render(&d, &platform).unwrap()).unwrap();
    let mut group = c.benchmark_group("render");
    group.bench_function("iam_role_documents", |b| {
        b.iter(|| to_pretty_json(&render(black_box(&d), black_box(&platform)).unwrap()))
    });
    group.bench_function("baseline_serialise_same_json", |b| {
        b.iter(|| to_pretty_json(black_box(&prebuilt)))
    });
    group.finish();
}

criterion_group!(benches, rendering);
criterion_main!(benches);
