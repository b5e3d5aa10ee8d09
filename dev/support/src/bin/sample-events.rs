//! Rewrites the sample events that hold stored items (stream records), from typed values, so they
//! never drift from the storage format: `cargo run -p dev-support --bin sample-events`.
//! A fast test fails when the committed files differ from what this writes.

fn main() -> std::io::Result<()> {
    for (name, text) in dev_support::events::generated() {
        let path = dev_support::template::repo_root()
            .join("tests/events")
            .join(name);
        std::fs::write(&path, text)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
