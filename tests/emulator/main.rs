//! The emulator tier: every AWS-facing behaviour against fakecloud (strict IAM, SigV4 checked),
//! with each function acting as the identity template.yaml gives it, plus the linters.

mod connection_check;
mod trust_model;
