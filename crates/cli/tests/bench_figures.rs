//! The overhead figures in README.md are the ones in docs/performance.md's table: both are
//! written by one run of `POEX_BENCH_WRITE_DOCS=1 cargo bench -p poex-cli --bench overhead`
//! between `bench:overhead` markers, and a hand edit of either shows here.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::collections::BTreeMap;
use std::path::Path;

/// The text between the `bench:overhead` markers of a file in the repository.
fn generated(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let b = text
        .find("<!-- bench:overhead -->\n")
        .unwrap_or_else(|| panic!("{file} lost its <!-- bench:overhead --> marker"));
    let e = text
        .find("<!-- /bench:overhead -->")
        .unwrap_or_else(|| panic!("{file} lost its <!-- /bench:overhead --> marker"));
    text[b..e].to_owned()
}

fn cells(line: &str) -> Vec<&str> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .collect()
}

/// A seconds figure as the bench prints it: `0.042 s`, `+0.042` or `0.042`.
fn seconds(cell: &str) -> f64 {
    let n = cell.split_whitespace().next().unwrap();
    n.trim_start_matches('+')
        .parse()
        .unwrap_or_else(|_| panic!("not a figure: {cell:?}"))
}

#[test]
fn readme_figures_are_the_tables_figures() {
    // docs/performance.md: (dataset, case) -> added vs bare
    let mut added = BTreeMap::new();
    for line in generated("docs/performance.md").lines() {
        let c = cells(line);
        if c.len() == 7 && c[4].starts_with('+') {
            added.insert((c[0].to_owned(), c[1].to_owned()), seconds(c[4]));
        }
    }
    assert!(added.len() >= 12, "the table lost its rows: {added:?}");

    let readme = generated("README.md");
    let mut rows = 0;
    for line in readme.lines().filter(|l| l.starts_with('|')).skip(2) {
        let c = cells(line);
        assert_eq!(c.len(), 4, "README row {line:?}");
        let dataset = c[0].to_owned();
        for (cell, case) in c[1..].iter().zip(["in-toto-run", "poex exec", "poex run"]) {
            let table = added
                .get(&(dataset.clone(), case.to_owned()))
                .unwrap_or_else(|| panic!("README names {dataset} / {case}, the table does not"));
            assert_eq!(
                seconds(cell),
                *table,
                "README says {case} adds {cell} on {dataset}; docs/performance.md says {table}"
            );
        }
        if let Some(no_cgroup) = c[3].split_once('(').map(|(_, r)| seconds(r)) {
            assert_eq!(
                no_cgroup,
                added[&(dataset.clone(), "poex run, no cgroup".to_owned())],
                "README's figure without the job cgroup"
            );
        }
        rows += 1;
    }
    assert_eq!(
        rows, 3,
        "README's table: fixed, the largest file, the folder"
    );
}
