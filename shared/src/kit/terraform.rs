//! The setup kit's Terraform, built as an HCL document with a real HCL library (never a string
//! template): the same documents the policies endpoint renders, as heredocs.

use hcl::expr::{Expression, Heredoc, HeredocStripMode, TemplateExpr, Traversal, Variable};
use hcl::{Block, Body, Identifier};

use crate::domain::{AuthMode, Destination};
use crate::policy::{RenderedPolicies, to_pretty_json};

use super::lifecycle::incomplete_uploads_rule;
use super::{role_documents, suggested_role_name};

/// A JSON document as `<<-POLICY … POLICY`.
fn heredoc(json: &str) -> Expression {
    let delimiter = Identifier::new("POLICY").expect("a valid identifier");
    let mut doc = Heredoc::new(delimiter, format!("{json}\n"));
    doc.strip = HeredocStripMode::Indent;
    Expression::TemplateExpr(Box::new(TemplateExpr::Heredoc(doc)))
}

/// `<resource type>.<name>.<attribute>`.
fn reference(kind: &str, name: &str, attribute: &str) -> Expression {
    let root = Variable::new(kind).expect("a valid identifier");
    Expression::Traversal(Box::new(
        Traversal::builder(root).attr(name).attr(attribute).build(),
    ))
}

pub fn configuration(destination: &Destination, rendered: &RenderedPolicies) -> String {
    let (comment, mut body) = match destination.auth() {
        AuthMode::IamRole { .. } => (
            "The IAM role the data platform assumes, with your External ID, to write into one S3 folder.",
            role(destination, rendered),
        ),
        AuthMode::BucketPolicy => (
            "REPLACES THE BUCKET'S WHOLE POLICY with the destination's statement (aws_s3_bucket_policy owns the\n# whole policy). If the bucket has a policy already, merge the statement into it instead (the setup kit's\n# CLI script does).",
            bucket_policy(destination, rendered),
        ),
    };
    lifecycle(destination, &mut body);
    let text = hcl::to_string(&body).unwrap_or_default();
    format!(
        "# Data platform destination {:?} ({}).\n# {comment}\n\n{text}",
        destination.name().as_str(),
        destination.id()
    )
}

fn role(destination: &Destination, rendered: &RenderedPolicies) -> Body {
    let (trust, permissions) = role_documents(rendered);
    let body = Body::builder()
        .add_block(
            Block::builder("resource")
                .add_label("aws_iam_role")
                .add_label("destination")
                .add_attribute(("name", suggested_role_name(destination)))
                .add_attribute((
                    "description",
                    "Lets the data platform write to one S3 folder, with your External ID.",
                ))
                .add_attribute(("assume_role_policy", heredoc(&trust)))
                .build(),
        )
        .add_block(
            Block::builder("resource")
                .add_label("aws_iam_role_policy")
                .add_label("destination")
                .add_attribute(("name", "DataPlatformDestination"))
                .add_attribute(("role", reference("aws_iam_role", "destination", "id")))
                .add_attribute(("policy", heredoc(&permissions)))
                .build(),
        )
        .add_block(
            Block::builder("output")
                .add_label("role_arn")
                .add_attribute(("description", "Paste this into the destination's Role ARN."))
                .add_attribute(("value", reference("aws_iam_role", "destination", "arn")))
                .build(),
        );
    key_policy_output(body, rendered).build()
}

/// The statement a KMS key's policy needs, as an output: Terraform must not own a key policy that
/// other statements live in.
fn key_policy_output(body: hcl::BodyBuilder, rendered: &RenderedPolicies) -> hcl::BodyBuilder {
    match &rendered.key_policy_statement {
        Some(statement) => body.add_block(
            Block::builder("output")
                .add_label("key_policy_statement")
                .add_attribute(("description", "Add this statement to the KMS key's policy."))
                .add_attribute(("value", heredoc(&to_pretty_json(statement))))
                .build(),
        ),
        None => body,
    }
}

fn bucket_policy(destination: &Destination, rendered: &RenderedPolicies) -> Body {
    let policy = rendered
        .bucket_policy
        .as_ref()
        .map(to_pretty_json)
        .unwrap_or_default();
    let mut body = Body::builder().add_block(
        Block::builder("resource")
            .add_label("aws_s3_bucket_policy")
            .add_label("destination")
            .add_attribute(("bucket", destination.configuration().bucket.as_str()))
            .add_attribute(("policy", heredoc(&policy)))
            .build(),
    );
    body = key_policy_output(body, rendered);
    body.build()
}

/// The lifecycle rule for incomplete uploads, behind a variable that is off by default:
/// `aws_s3_bucket_lifecycle_configuration` owns a bucket's whole lifecycle configuration, so
/// applying it where other rules exist would delete them.
fn lifecycle(destination: &Destination, body: &mut Body) {
    let rule = incomplete_uploads_rule(destination);
    let condition = Expression::Conditional(Box::new(hcl::expr::Conditional::new(
        Expression::Traversal(Box::new(
            Traversal::builder(Variable::new("var").expect("a valid identifier"))
                .attr("manage_bucket_lifecycle")
                .build(),
        )),
        1,
        0,
    )));
    let mut resource = Block::builder("resource")
        .add_label("aws_s3_bucket_lifecycle_configuration")
        .add_label("destination")
        .add_attribute(("count", condition))
        .add_attribute(("bucket", destination.configuration().bucket.as_str()));
    if let Some(owner) = &destination.configuration().bucket_owner {
        resource = resource.add_attribute(("expected_bucket_owner", owner.as_str()));
    }
    let resource = resource.add_block(
        Block::builder("rule")
            .add_attribute(("id", rule.id))
            .add_attribute(("status", rule.status))
            .add_block(
                Block::builder("filter")
                    .add_attribute(("prefix", rule.filter.prefix))
                    .build(),
            )
            .add_block(
                Block::builder("abort_incomplete_multipart_upload")
                    .add_attribute((
                        "days_after_initiation",
                        rule.abort_incomplete_multipart_upload.days_after_initiation,
                    ))
                    .build(),
            )
            .build(),
    );
    let variable = Block::builder("variable")
        .add_label("manage_bucket_lifecycle")
        .add_attribute((
            "description",
            "Adds a lifecycle rule removing the parts of uploads that never completed, after a week. Set it only if nothing else manages this bucket's lifecycle rules: this resource owns them all, and applying it deletes any rule already there (the setup kit's CLI script adds the rule and keeps the others).",
        ))
        .add_attribute(("type", Expression::Variable(Variable::new("bool").expect("a valid identifier"))))
        .add_attribute(("default", false))
        .build();
    body.0.push(variable.into());
    body.0.push(resource.build().into());
}
