//! The dependency rule of `src/lib.rs`, enforced: reads every file under `src/`, finds the
//! modules each one uses (`use` trees and inline `crate::`/`super::`/`self::` paths, test
//! modules aside), and fails on
//! - an edge between top-level modules that the rule does not allow (a lower step
//!   importing a higher one), and
//! - any import cycle between modules (files), at any depth, outside the simulator (the
//!   fake cloud is no step of the data flow; that it imports nothing of ours is checked).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The rule: which top-level modules each one may use. Mirrors the table in `src/lib.rs`.
const ALLOWED: &[(&str, &[&str])] = &[
    ("diag", &[]),
    ("simulator", &[]),
    ("config", &["diag"]),
    ("model", &["config"]),
    ("store", &["model"]),
    ("upstream", &["model", "config"]),
    ("discovery", &["upstream", "model", "config"]),
    (
        "scheduler",
        &["upstream", "store", "model", "config", "discovery"],
    ),
    ("exposition", &["store", "model", "config"]),
    (
        "server",
        &["exposition", "store", "model", "config", "diag"],
    ),
    ("persistence", &["store", "model", "config"]),
    ("cli", &["model"]),
    ("logging", &["cli"]),
    (
        "app",
        &[
            "cli",
            "logging",
            "config",
            "diag",
            "model",
            "store",
            "upstream",
            "discovery",
            "scheduler",
            "exposition",
            "server",
            "persistence",
            "simulator",
        ],
    ),
];

/// A module (one file) and what it refers to.
struct Module {
    path: Vec<String>,
    file: PathBuf,
    children: BTreeSet<String>,
    refs: Vec<Vec<String>>,
}

fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src") {
        let p = entry.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The text without comments and without `#[cfg(test)]` items (test modules may use
/// anything, as tests do).
fn production_text(text: &str) -> String {
    let mut kept = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        let code = match line.find(" //") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        kept.push_str(code);
        kept.push('\n');
    }
    // Cut every `#[cfg(test)]` item: the attribute, then up to the end of its braces.
    let mut out = String::new();
    let mut rest = kept.as_str();
    while let Some(i) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let Some(open) = after.find(['{', ';']) else {
            rest = "";
            break;
        };
        if after.as_bytes()[open] == b';' {
            rest = &after[open + 1..];
            continue;
        }
        let mut depth = 0usize;
        let mut end = after.len();
        for (j, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands a `use` tree (`a::{b, c::{d, e as f}, self}`) into its paths.
fn expand_use(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    // Split a top-level group, if any.
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let close = tree.rfind('}').unwrap_or(tree.len());
        let inner = &tree[open + 1..close];
        let mut base = prefix.to_vec();
        base.extend(head);
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_use(&inner[start..i], &base, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand_use(&inner[start..], &base, out);
        return;
    }
    let tree = tree.split(" as ").next().unwrap_or(tree);
    let mut path = prefix.to_vec();
    for seg in tree.split("::").map(str::trim).filter(|s| !s.is_empty()) {
        if seg == "self" {
            continue;
        }
        path.push(seg.to_string());
    }
    out.push(path);
}

fn references(text: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut refs = Vec::new();
    // `use` items (possibly `pub use`, spanning lines).
    let mut rest = text;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        let after = &rest[i + 4..];
        rest = after;
        if before.is_some_and(is_ident) {
            continue;
        }
        let Some(end) = after.find(';') else { break };
        let tree = &after[..end];
        if tree.contains('"') || tree.contains('(') {
            continue;
        }
        expand_use(tree, &[], &mut refs);
        rest = &after[end..];
    }
    // Inline paths, from the crate, a parent, this module or one of its children.
    let anchors = ["crate", "super", "self"]
        .into_iter()
        .map(str::to_string)
        .chain(children.iter().cloned())
        .map(|a| format!("{a}::"));
    for anchor in anchors {
        let anchor = anchor.as_str();
        let mut rest = text;
        while let Some(i) = rest.find(anchor) {
            let before = rest[..i].chars().last();
            let tail = &rest[i..];
            rest = &rest[i + anchor.len()..];
            if before.is_some_and(|c| is_ident(c) || c == ':') {
                continue;
            }
            let end = tail
                .find(|c: char| !(is_ident(c) || c == ':'))
                .unwrap_or(tail.len());
            let path: Vec<String> = tail[..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            refs.push(path);
        }
    }
    refs
}

fn load(src: &Path) -> Vec<Module> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|f| !f.ends_with("main.rs"))
        .map(|file| {
            let text = std::fs::read_to_string(&file).expect("readable source");
            let code = production_text(&text);
            let children: BTreeSet<String> = code
                .lines()
                .filter_map(|l| {
                    let l = l.trim();
                    let l = l.strip_prefix("pub ").unwrap_or(l);
                    let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
                    l.strip_prefix("mod ")
                        .and_then(|m| m.strip_suffix(';'))
                        .map(str::to_string)
                })
                .collect();
            let refs = references(&code, &children);
            Module {
                path: module_path(src, &file),
                file,
                children,
                refs,
            }
        })
        .collect()
}

/// The module a reference from `from` lands in, if it is one of ours.
fn resolve(
    from: &Module,
    r: &[String],
    known: &BTreeSet<Vec<String>>,
    roots: &BTreeSet<String>,
) -> Option<Vec<String>> {
    let first = r.first()?;
    let mut abs: Vec<String> = match first.as_str() {
        "crate" => r[1..].to_vec(),
        "super" => {
            let mut base = from.path.clone();
            let mut i = 0;
            while r.get(i).is_some_and(|s| s == "super") {
                base.pop();
                i += 1;
            }
            base.extend(r[i..].iter().cloned());
            base
        }
        "self" => {
            let mut base = from.path.clone();
            base.extend(r[1..].iter().cloned());
            base
        }
        s if from.children.contains(s) => {
            let mut base = from.path.clone();
            base.extend(r.iter().cloned());
            base
        }
        s if from.path.is_empty() && roots.contains(s) => r.to_vec(),
        _ => return None,
    };
    while !abs.is_empty() && !known.contains(&abs) {
        abs.pop();
    }
    if abs.is_empty() || abs == from.path {
        None
    } else {
        Some(abs)
    }
}

/// Module -> the modules it uses.
type Edges = BTreeMap<Vec<String>, BTreeSet<Vec<String>>>;

fn graph() -> (Edges, Vec<Module>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = load(&src);
    let known: BTreeSet<Vec<String>> = modules.iter().map(|m| m.path.clone()).collect();
    let roots: BTreeSet<String> = known
        .iter()
        .filter(|p| p.len() == 1)
        .map(|p| p[0].clone())
        .collect();
    let mut edges: Edges = BTreeMap::new();
    for m in &modules {
        let e = edges.entry(m.path.clone()).or_default();
        for r in &m.refs {
            if let Some(to) = resolve(m, r, &known, &roots) {
                e.insert(to);
            }
        }
    }
    (edges, modules)
}

fn name(p: &[String]) -> String {
    if p.is_empty() {
        "crate".to_string()
    } else {
        p.join("::")
    }
}

#[test]
fn top_level_modules_follow_the_dependency_rule() {
    let (edges, modules) = graph();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut bad = Vec::new();
    for m in &modules {
        let Some(from) = m.path.first() else { continue };
        let Some(may) = allowed.get(from.as_str()) else {
            bad.push(format!(
                "{}: top-level module `{from}` is not in the rule (tests/architecture.rs ALLOWED and src/lib.rs)",
                m.file.display()
            ));
            continue;
        };
        for to in &edges[&m.path] {
            let Some(target) = to.first() else { continue };
            if target != from && !may.contains(&target.as_str()) {
                bad.push(format!(
                    "{}: `{}` uses `{}`, but `{from}` may only use {may:?}",
                    m.file.display(),
                    name(&m.path),
                    name(to)
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "dependency rule broken:\n{}",
        bad.join("\n")
    );
}

#[test]
fn no_import_cycle_between_modules() {
    let (mut edges, _) = graph();
    edges.retain(|from, _| from.first().is_none_or(|m| m != "simulator"));
    // Tarjan's strongly connected components.
    struct State<'a> {
        edges: &'a Edges,
        index: BTreeMap<&'a [String], usize>,
        low: BTreeMap<&'a [String], usize>,
        stack: Vec<&'a [String]>,
        on_stack: BTreeSet<&'a [String]>,
        next: usize,
        cycles: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a [String]) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(out) = s.edges.get(v) {
            for w in out {
                let w = w.as_slice();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                scc.push(name(w));
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                s.cycles.push(scc);
            }
        }
    }
    let mut s = State {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        cycles: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_slice()) {
            visit(&mut s, v);
        }
    }
    let detail: Vec<String> = s
        .cycles
        .iter()
        .map(|c| {
            let members: BTreeSet<&String> = c.iter().collect();
            let inner: Vec<String> = edges
                .iter()
                .filter(|(from, _)| members.contains(&name(from)))
                .flat_map(|(from, to)| {
                    to.iter()
                        .filter(|t| members.contains(&name(t)))
                        .map(move |t| format!("    {} -> {}", name(from), name(t)))
                })
                .collect();
            format!("  {{{}}}\n{}", c.join(", "), inner.join("\n"))
        })
        .collect();
    assert!(
        s.cycles.is_empty(),
        "import cycles between modules:\n{}",
        detail.join("\n")
    );
}

#[test]
fn the_checker_sees_edges_and_cycles() {
    // The parser itself: a grouped use, an inline path, `super::`, and a test module cut.
    let text = "use crate::model::{api::Api, target::{self, Target}};\nfn f() { crate::store::Snapshot::new(); super::x::y(); }\n#[cfg(test)]\nmod tests { use crate::simulator::World; }\n";
    let refs = references(&production_text(text), &BTreeSet::new());
    let flat: Vec<String> = refs.iter().map(|r| r.join("::")).collect();
    assert!(
        flat.contains(&"crate::model::api::Api".to_string()),
        "{flat:?}"
    );
    assert!(
        flat.contains(&"crate::model::target".to_string()),
        "{flat:?}"
    );
    assert!(
        flat.contains(&"crate::store::Snapshot::new".to_string()),
        "{flat:?}"
    );
    assert!(flat.contains(&"super::x::y".to_string()), "{flat:?}");
    assert!(!flat.iter().any(|r| r.contains("simulator")), "{flat:?}");
    // And the graph is not empty: the rule is checked against something.
    let (edges, modules) = graph();
    assert!(modules.len() > 20);
    assert!(edges.values().map(BTreeSet::len).sum::<usize>() > 30);
}

/// Prints the module graph (top-level edges, then every file's): `cargo test --test
/// architecture -- --ignored --nocapture print_module_graph`.
#[test]
#[ignore]
fn print_module_graph() {
    let (edges, _) = graph();
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in &edges {
        for t in to {
            if let (Some(a), Some(b)) = (from.first(), t.first())
                && a != b
            {
                top.entry(a.clone()).or_default().insert(b.clone());
            }
        }
    }
    println!("top-level modules:");
    for (from, to) in &top {
        println!(
            "  {from} -> {}",
            to.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    println!("files:");
    for (from, to) in &edges {
        let to: Vec<String> = to.iter().map(|t| name(t)).collect();
        println!("  {} -> {}", name(from), to.join(", "));
    }
}
