//! JSON for standard output (`--json`): serde_json's text through
//! [`poex_core::display::escape_json`], so the C1 and bidi controls a job or a node put into a
//! string are written as `\uXXXX` (serde_json escapes only the C0 controls). The value is the
//! same JSON.

use serde::Serialize;

/// Pretty JSON, safe to print.
pub fn pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string_pretty(value).map(|s| poex_core::display::escape_json(&s).into_owned())
}

/// JSON on one line (JSON Lines output), safe to print.
pub fn line<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string(value).map(|s| poex_core::display::escape_json(&s).into_owned())
}
