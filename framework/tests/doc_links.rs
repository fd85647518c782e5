//! The project's docs and comments cite only files a clone has: a `*.md`
//! named anywhere in the sources or docs exists in the repository (a clone
//! has no design notes from outside it).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Every file below `dir`, but build output, git and fuzz corpora.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | ".git" | "corpus" | "artifacts") {
                files(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

#[test]
fn every_markdown_file_the_sources_and_docs_name_is_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut all = Vec::new();
    files(&root, &mut all);
    let present: HashSet<String> = all
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let mut missing = Vec::new();
    for path in &all {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !matches!(ext, "rs" | "md" | "toml" | "py" | "sh")
            && !path.starts_with(root.join("benches"))
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || "_-./".contains(c))) {
                let Some(stem) = word.strip_suffix(".md") else {
                    continue;
                };
                let name = format!("{}.md", stem.rsplit('/').next().unwrap_or(stem));
                if !stem.is_empty() && !present.contains(&name) {
                    missing.push(format!("{}:{}: {word}", path.display(), n + 1));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "cited but not in the repository:\n{}",
        missing.join("\n")
    );
}
