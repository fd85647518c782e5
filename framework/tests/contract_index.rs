//! The contract's manual (`src/contract.rs`) names, for each rule, the tests
//! that prove it: every one it names must exist, and every test named after
//! a rule must be listed, so the manual cannot drift from the suite.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn every_test_the_contract_names_exists_and_every_rule_test_is_named() {
    let manual = std::fs::read_to_string(root().join("framework/src/contract.rs")).unwrap();
    let mut listed = Vec::new();
    for line in manual.lines() {
        let Some(rest) = line.trim_start_matches("//!").trim().strip_prefix("- `") else {
            continue;
        };
        let (file, rest) = rest.split_once("`: `").expect("- `file`: `test`");
        let name = rest.trim_end_matches('`');
        let src =
            std::fs::read_to_string(root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            src.contains(&format!("fn {name}(")),
            "{file} has no test {name}"
        );
        listed.push(name.to_string());
    }
    assert!(listed.len() > 50, "only {} tests listed", listed.len());
    for dir in ["framework/tests", "apps/tests"] {
        // A test crate is a file or a folder of files (`NAME/main.rs` and
        // its modules).
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                for inner in std::fs::read_dir(&path).unwrap() {
                    paths.push(inner.unwrap().path());
                }
            } else {
                paths.push(path);
            }
        }
        for path in paths {
            if path.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let src = std::fs::read_to_string(&path).unwrap();
            for chunk in src.split("#[test]\nfn ").skip(1) {
                let name = chunk.split('(').next().unwrap();
                let first = name.split('_').next().unwrap();
                let is_rule = first.len() > 1
                    && matches!(first.as_bytes()[0], b't' | b'p' | b'l' | b'k' | b's')
                    && first[1..].bytes().all(|b| b.is_ascii_digit());
                if is_rule {
                    assert!(
                        listed.iter().any(|l| l == name),
                        "{}: {name} proves a rule but the contract does not list it",
                        path.display()
                    );
                }
            }
        }
    }
}
