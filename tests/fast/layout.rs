//! The shape of the code, checked: every test file runs, `shared`'s modules form no cycle,
//! handlers and functions stay short enough to read, and what `sam build` builds links no test code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    dev_support::template::repo_root()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn every_test_file_is_a_module_of_its_tier() {
    for tier in ["fast", "emulator"] {
        let dir = root().join("tests").join(tier);
        let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
        for file in rust_files(&dir) {
            let name = file.file_stem().unwrap().to_str().unwrap().to_owned();
            if name == "main" {
                continue;
            }
            assert!(
                main.contains(&format!("mod {name};")),
                "tests/{tier}/{name}.rs is not declared in tests/{tier}/main.rs, so it never runs"
            );
        }
    }
}

/// The top-level module of `shared` each file belongs to, and the ones it uses.
fn shared_module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("shared/src");
    let modules: BTreeSet<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_owned();
            (stem != "lib").then_some(stem)
        })
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let owner = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        if owner == "lib" || owner == "testing" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Test code may reach anywhere; the product code may not.
        let product = text.split("#[cfg(test)]").next().unwrap_or_default();
        let uses = graph.entry(owner.clone()).or_default();
        for module in &modules {
            if module != &owner && product.contains(&format!("crate::{module}")) {
                uses.insert(module.clone());
            }
        }
    }
    graph
}

#[test]
fn the_modules_of_shared_form_no_cycle() {
    let graph = shared_module_graph();
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(start) = path.iter().position(|n| n == node) {
            panic!(
                "module cycle in shared: {} -> {node}",
                path[start..].join(" -> ")
            );
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(node.to_owned());
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
    // And the layers point one way: the domain uses nothing, the ports never the use cases.
    assert!(
        graph.get("domain").is_none_or(BTreeSet::is_empty),
        "domain uses {:?}",
        graph["domain"]
    );
    assert!(
        !graph.get("ports").is_some_and(|p| p.contains("app")),
        "ports use app"
    );
    assert!(
        !graph.get("policy").is_some_and(|p| p.contains("app")),
        "policy uses app"
    );
}

/// `(file, line, name, length)` of every function in product code under `dir`.
fn functions(dir: &Path) -> Vec<(String, usize, String, usize)> {
    let mut found = Vec::new();
    for file in rust_files(dir) {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let product_end = lines
            .iter()
            .position(|l| l.trim() == "#[cfg(test)]")
            .unwrap_or(lines.len());
        for (start, line) in lines[..product_end].iter().enumerate() {
            let trimmed = line.trim_start();
            let is_fn = [
                "fn ",
                "pub fn ",
                "async fn ",
                "pub async fn ",
                "pub(crate) fn ",
                "pub(super) fn ",
            ]
            .iter()
            .any(|p| trimmed.starts_with(p));
            if !is_fn {
                continue;
            }
            // A signature ends in `;` (a declaration, no body) or opens its body with `{`.
            let declaration = lines[start..product_end]
                .iter()
                .find(|l| l.trim_end().ends_with(';') || l.trim_end().ends_with('{'))
                .is_some_and(|l| l.trim_end().ends_with(';'));
            if declaration {
                continue;
            }
            let indent = line.len() - trimmed.len();
            let end = lines[start + 1..product_end]
                .iter()
                .position(|l| {
                    l.len() > indent
                        && l[..indent].trim().is_empty()
                        && l[indent..].starts_with('}')
                })
                .map(|offset| start + 1 + offset)
                .unwrap_or(start);
            let name = trimmed
                .split("fn ")
                .nth(1)
                .unwrap_or_default()
                .split(['(', '<'])
                .next()
                .unwrap_or_default()
                .to_owned();
            found.push((file.display().to_string(), start + 1, name, end - start + 1));
        }
    }
    found
}

#[test]
fn no_product_function_is_over_80_lines() {
    let mut long = Vec::new();
    for dir in ["shared/src", "functions"] {
        for (file, line, name, length) in functions(&root().join(dir)) {
            if length > 80 && !file.contains("/testing/") {
                long.push(format!("{file}:{line} {name} ({length} lines)"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over 80 lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn every_handler_is_at_most_200_lines() {
    for entry in std::fs::read_dir(root().join("functions")).unwrap() {
        let handler = entry.unwrap().path().join("src/handler.rs");
        if let Ok(text) = std::fs::read_to_string(&handler) {
            let lines = text.lines().count();
            assert!(lines <= 200, "{} has {lines} lines", handler.display());
        }
    }
}

/// The `shared` features a build at the workspace root enables, as cargo resolves them.
fn shared_features_of_a_root_build() -> BTreeSet<String> {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["tree", "--locked", "-e", "features", "-i", "shared"])
        .current_dir(root())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .split("shared feature \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn what_sam_build_builds_links_no_test_code() {
    // GIVEN template.yaml's functions, each built by `sam build` as `cargo lambda build --bin
    // <Binary>` at the workspace root (CodeUri: ./), where cargo unifies the features of the
    // workspace's default members
    let template = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let binaries: BTreeSet<&str> = template
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Binary: "))
        .collect();
    assert!(
        binaries.len() >= 9,
        "template.yaml's binaries: {binaries:?}"
    );
    // WHEN cargo resolves that build's features
    let features = shared_features_of_a_root_build();
    // THEN the functions' adapters are there, and the fixtures and in-memory adapters are not
    assert!(features.contains("dynamodb"), "{features:?}");
    assert!(!features.contains("test-util"), "{features:?}");
    // AND every binary the template names is a default member's, so it is built that way
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let default_members = manifest
        .lines()
        .find(|line| line.starts_with("default-members"))
        .expect("Cargo.toml names its default members");
    for binary in binaries {
        assert!(
            default_members.contains(&format!("\"functions/{binary}\"")),
            "{binary} is not a default member"
        );
    }
}

#[test]
fn every_file_of_shared_is_in_its_module_tree() {
    // A file no `mod` declares is never compiled: dead code that still reads as if it ran.
    let src = root().join("shared/src");
    let mut orphans = Vec::new();
    for file in rust_files(&src) {
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        let stem = file.file_stem().unwrap().to_str().unwrap().to_owned();
        if name == "lib.rs" || name == "mod.rs" {
            continue;
        }
        let dir = file.parent().unwrap();
        let parent = if dir == src {
            src.join("lib.rs")
        } else if dir.join("mod.rs").exists() {
            dir.join("mod.rs")
        } else {
            dir.with_extension("rs")
        };
        let declared_by_parent = std::fs::read_to_string(&parent)
            .is_ok_and(|text| text.contains(&format!("mod {stem};")));
        let declared_by_path = rust_files(dir).iter().any(|sibling| {
            std::fs::read_to_string(sibling)
                .is_ok_and(|text| text.contains(&format!("#[path = \"{name}\"]")))
        });
        if !(declared_by_parent || declared_by_path) {
            orphans.push(file.strip_prefix(&src).unwrap().display().to_string());
        }
    }
    assert!(
        orphans.is_empty(),
        "not in shared's module tree: {orphans:?}"
    );
}
