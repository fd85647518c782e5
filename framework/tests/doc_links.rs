//! The project's docs cannot drift: a `*.md` named anywhere in the sources
//! or docs exists in the repository (a clone has no design notes from
//! outside it), the README's headline figures are the ones
//! `benches/results/results.json` holds, and the README names every family
//! of contract rules up to its last rule.

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

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_readme_headline_is_the_table_results_json_gives() {
    // One source for the figures: benches/compare writes the README table
    // from results.json; `--headline` prints it without running anything.
    let out = std::process::Command::new("python3")
        .arg(root().join("benches/compare"))
        .arg("--headline")
        .output()
        .expect("python3 (`.ci/run` installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = String::from_utf8(out.stdout).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let (_, rest) = readme
        .split_once("<!-- headline:start -->\n")
        .expect("README.md has the headline markers");
    let (have, _) = rest.split_once("<!-- headline:end -->").unwrap();
    assert_eq!(
        have, want,
        "README.md's headline differs from results.json: run `benches/compare --headline` and paste it between the markers"
    );
}

#[test]
fn the_readme_names_every_contract_family_up_to_its_last_rule() {
    let contract = std::fs::read_to_string(root().join("framework/src/contract.rs")).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    // Rules are written `**X12**` in the contract module.
    let mut last: std::collections::BTreeMap<char, u32> = Default::default();
    for part in contract.split("**").skip(1).step_by(2) {
        let mut chars = part.chars();
        let (Some(family), Ok(n)) = (chars.next(), chars.as_str().parse::<u32>()) else {
            continue;
        };
        if family.is_ascii_uppercase() {
            let e = last.entry(family).or_insert(n);
            *e = (*e).max(n);
        }
    }
    assert!(last.len() >= 5, "{last:?}");
    for (family, n) in last {
        let range = format!("{family}1–{family}{n}");
        assert!(
            readme.contains(&range),
            "README.md does not say {range} (the contract module's last {family} rule)"
        );
    }
}

#[test]
fn the_readme_http_ratios_are_the_medians_results_md_gives() {
    let results = std::fs::read_to_string(root().join("benches/RESULTS.md")).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let (_, http) = results
        .split_once("## http against nginx and hyper")
        .expect("RESULTS.md has the http section");
    let mut checked = 0;
    for row in http.lines().take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        // | load | server | … | per core vs nginx | failed |
        if cells.len() < 10 || cells[2] != "shardloop" {
            continue;
        }
        let median = cells[cells.len() - 3].split(' ').next().unwrap();
        let said = format!("{median}×");
        assert!(
            readme.contains(&said),
            "README.md does not give {said} for {} on {} (benches/RESULTS.md)",
            cells[2],
            cells[1]
        );
        checked += 1;
    }
    assert!(checked >= 3, "{checked} rows of the http table read");
}
