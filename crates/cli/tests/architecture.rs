//! The workspace's module graph: within each crate, no file-level module imports one that
//! (directly or through others) imports it back, unless one of the modules of that cycle says
//! why in a comment containing `Module cycle:`.
//!
//! A module is a source file (`a/b.rs` or `a/b/mod.rs` is `a::b`); an edge is a `crate::` or
//! `super::` path in its code (comments and the `#[cfg(test)] mod tests` block left out) that
//! names another module of the crate. Cycles make a crate hard to cut and read in order.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `src`, by module path.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut module: Module = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            out.insert(module, path);
        }
    }
    out
}

/// The code of a file without line comments and without its unit tests.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths after each `crate::` or `super::` (a `{...}` group expands into several), as
/// segments starting with `crate` or `super`.
fn paths(code: &str) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let rest = &code[i..];
        let start = ["crate::", "super::"]
            .into_iter()
            .find(|p| rest.starts_with(p));
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        match start {
            Some(p) if boundary => {
                let head = p.trim_end_matches("::").to_owned();
                let (mut found, used) = tree(&rest[p.len()..]);
                for f in &mut found {
                    f.insert(0, head.clone());
                }
                out.extend(found);
                i += p.len() + used.max(1);
            }
            _ => i += 1,
        }
    }
    out
}

/// Parses `a::b::{c, d::e}` (or `a::b`) at the start of `text`: the paths and bytes used.
fn tree(text: &str) -> (Vec<Vec<String>>, usize) {
    let mut segs = Vec::new();
    let mut i = 0;
    loop {
        let word: String = text[i..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !word.is_empty() {
            i += word.len();
            segs.push(word);
            if text[i..].starts_with("::") {
                i += 2;
                continue;
            }
            return (vec![segs], i);
        }
        if text[i..].starts_with('{') {
            i += 1;
            let mut all = Vec::new();
            loop {
                let skip = text[i..].len() - text[i..].trim_start().len();
                i += skip;
                if text[i..].starts_with('}') || i >= text.len() {
                    return (all, i + 1);
                }
                let (inner, used) = tree(&text[i..]);
                for mut p in inner {
                    let mut full = segs.clone();
                    full.append(&mut p);
                    all.push(full);
                }
                i += used.max(1);
                // Skip ` as name` and the comma.
                while i < text.len() && !text[i..].starts_with(',') && !text[i..].starts_with('}') {
                    i += 1;
                }
                if text[i..].starts_with(',') {
                    i += 1;
                }
            }
        }
        return (vec![segs], i);
    }
}

/// The module a path names from module `from` (the deepest module it enters), if another.
fn target(mods: &BTreeMap<Module, PathBuf>, from: &Module, path: &[String]) -> Option<Module> {
    // `super` of `a::b` is `a`, whether `a::b` is `a/b.rs` or `a/b/mod.rs`.
    let mut cur: Module = match path[0].as_str() {
        "crate" => Vec::new(),
        _ => from[..from.len().saturating_sub(1)].to_vec(),
    };
    for seg in &path[1..] {
        if seg == "super" {
            cur.pop();
            continue;
        }
        let mut next = cur.clone();
        next.push(seg.clone());
        if mods.contains_key(&next) {
            cur = next;
        } else {
            break;
        }
    }
    (!cur.is_empty() && cur != *from).then_some(cur)
}

/// Strongly connected components of more than one module (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<BTreeSet<Module>> {
    struct State<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on: BTreeSet<&'a Module>,
        out: Vec<BTreeSet<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        for w in &s.edges[v] {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = BTreeSet::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on.remove(w);
                comp.insert(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn no_crate_has_an_unexplained_module_cycle() {
    let crates = workspace().join("crates");
    let mut unexplained = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).unwrap() {
        let src = entry.unwrap().path().join("src");
        if !src.is_dir() {
            continue;
        }
        let mods = modules(&src);
        let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
        for (m, file) in &mods {
            let text = std::fs::read_to_string(file).unwrap();
            let set = edges.entry(m.clone()).or_default();
            for p in paths(&code(&text)) {
                if let Some(t) = target(&mods, m, &p) {
                    set.insert(t);
                }
            }
        }
        checked += mods.len();
        for comp in cycles(&edges) {
            let explained = comp.iter().any(|m| {
                std::fs::read_to_string(&mods[m])
                    .unwrap()
                    .contains("Module cycle:")
            });
            if !explained {
                let names: Vec<String> = comp.iter().map(|m| m.join("::")).collect();
                unexplained.push(format!("{}: {}", src.display(), names.join(" <-> ")));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} modules found: is the walk right?"
    );
    assert!(
        unexplained.is_empty(),
        "module cycles without a `Module cycle:` comment saying why:\n{}",
        unexplained.join("\n")
    );
}

#[test]
fn the_checker_finds_a_cycle_and_reads_use_groups() {
    let found = paths(&code(
        "use crate::{a::{b, c as d}, e};\nlet x = super::f::g(); // crate::h\n",
    ));
    let text: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        text,
        ["crate::a::b", "crate::a::c", "crate::e", "super::f::g"]
    );
    assert!(!code("x // crate::h").contains("crate::h"));
    let m = |s: &str| -> Module { s.split("::").map(str::to_owned).collect() };
    let mut edges = BTreeMap::new();
    edges.insert(m("a"), BTreeSet::from([m("b")]));
    edges.insert(m("b"), BTreeSet::from([m("c")]));
    edges.insert(m("c"), BTreeSet::from([m("a")]));
    edges.insert(m("d"), BTreeSet::from([m("a")]));
    let c = cycles(&edges);
    assert_eq!(c, [BTreeSet::from([m("a"), m("b"), m("c")])]);
}
