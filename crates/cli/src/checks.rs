//! A list of named checks, each passed or failed with what it found: what `poex verify` and
//! `poex log verify` print (one line each, or JSON) before exiting 0 or 4.

use serde_json::{Value, json};

struct Check {
    name: String,
    ok: bool,
    detail: String,
}

#[derive(Default)]
pub struct Checks(Vec<Check>);

impl Checks {
    pub fn pass(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, true, detail);
    }

    pub fn fail(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, false, detail);
    }

    pub fn push(&mut self, name: impl Into<String>, ok: bool, detail: impl Into<String>) {
        self.0.push(Check {
            name: name.into(),
            ok,
            detail: detail.into(),
        });
    }

    pub fn all_ok(&self) -> bool {
        self.0.iter().all(|c| c.ok)
    }

    /// `[{check, ok, detail}, ...]`.
    pub fn to_json(&self) -> Value {
        self.0
            .iter()
            .map(|c| json!({"check": c.name, "ok": c.ok, "detail": c.detail}))
            .collect()
    }

    /// One line per check: `ok   name       detail` or `FAIL name       detail`.
    pub fn print(&self) -> std::io::Result<()> {
        for c in &self.0 {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            outln!("{mark} {:<10} {}", c.name, c.detail);
        }
        Ok(())
    }
}
