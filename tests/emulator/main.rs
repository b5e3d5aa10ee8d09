//! The emulator tier: every AWS-facing behaviour against fakecloud (strict IAM, SigV4 checked),
//! with each function acting as the identity template.yaml gives it, plus the linters and the
//! setup page in a real browser.

mod api;
mod connection_check;
mod deliveries;
mod delivery_flow;
mod events;
mod fairness;
mod generated_requests;
mod linters;
mod local_run;
mod partitions;
mod ports;
mod revalidation;
mod rotation;
mod setup_kit;
mod setup_page;
mod template_iam;
mod trust_model;
