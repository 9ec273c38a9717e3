//! Text that came from someone else, made safe to print on a terminal.
//!
//! Result names, asset names, reasons, audit details and anything a node sends are written by
//! algorithms, requesters or other parties. Printed as they are, a newline or a carriage
//! return in one would start a line that looks like poex's own (`ok   results …`), an ESC
//! sequence would move the cursor, recolour or clear the screen, and a Unicode bidi control
//! would show the text in another order than it is. [`escape`] makes every such character
//! visible instead, so the line poex prints is the line a person reads.
//!
//! ```
//! use poex_core::display::escape;
//!
//! assert_eq!(escape("rows.txt"), "rows.txt");
//! assert_eq!(escape("x\nok   results"), r"x\nok   results");
//! assert_eq!(escape("\x1b[2Jred"), r"\x1b[2Jred");
//! assert_eq!(escape("invoice\u{202e}fdp.exe"), r"invoice\u{202e}fdp.exe");
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is escaped by [`escape`]: the C0 controls (newline, carriage return, tab, ESC
/// and the rest), DEL, the C1 controls, the line and paragraph separators (U+2028, U+2029),
/// and the Unicode bidi controls: the marks U+200E, U+200F and U+061C, the embeddings and
/// overrides U+202A–U+202E, and the isolates U+2066–U+2069.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every character of [`needs_escape`] written visibly: `\n`, `\r` and `\t` as
/// such, other ASCII controls and DEL as `\xHH` (`\x1b` for ESC), and the rest as `\u{…}`
/// (`\u{202e}`). Everything else, including non-ASCII letters, is kept as it is. Borrows
/// `text` when nothing needs escaping.
///
/// Use it wherever text that poex did not write itself is printed for a person. For JSON,
/// [`escape_json`] does the same to serde_json's text, in JSON's own escapes.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str(r"\n"),
            '\r' => out.push_str(r"\r"),
            '\t' => out.push_str(r"\t"),
            c if needs_escape(c) && c.is_ascii() => {
                let _ = write!(out, r"\x{:02x}", u32::from(c));
            }
            c if needs_escape(c) => {
                let _ = write!(out, r"\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// JSON text as serde_json wrote it, with the characters it leaves raw inside strings that
/// [`escape`] would escape written as JSON escapes instead: DEL and the C1 controls (a
/// terminal may take U+009B for ESC `[`), U+2028, U+2029 and the bidi controls, as `\u007f`,
/// `\u009b`, `\u202e`. The value is the same JSON (every parser reads the same strings); only
/// its text is safe to print. serde_json already escapes the C0 controls in strings, so any
/// left in `json` are its own line breaks and indentation, and are kept.
///
/// ```
/// use poex_core::display::escape_json;
///
/// let json = serde_json::to_string(&["a\u{202e}b", "\u{9b}2J", "\n"]).unwrap();
/// assert_eq!(escape_json(&json), r#"["a\u202eb","\u009b2J","\n"]"#);
/// ```
pub fn escape_json(json: &str) -> Cow<'_, str> {
    let raw = |c: char| needs_escape(c) && !(c.is_ascii_control() && c != '\x7f');
    if !json.chars().any(raw) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if raw(c) {
            // Every character [`needs_escape`] names is in the Basic Multilingual Plane.
            let _ = write!(out, r"\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_and_bidi_character_is_escaped_and_nothing_else() {
        let cases = [
            ("plain name.txt", "plain name.txt"),
            ("a\nb\rc\td", r"a\nb\rc\td"),
            ("\0\x07\x1b[31m\x7f", r"\x00\x07\x1b[31m\x7f"),
            ("\u{80}\u{85}\u{9f}", r"\u{80}\u{85}\u{9f}"),
            ("\u{2028}\u{2029}", r"\u{2028}\u{2029}"),
            (
                "\u{061c}\u{200e}\u{200f}\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}",
                r"\u{61c}\u{200e}\u{200f}\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}",
            ),
            (
                "\u{2066}\u{2067}\u{2068}\u{2069}",
                r"\u{2066}\u{2067}\u{2068}\u{2069}",
            ),
            // Letters, marks and symbols of other scripts are text, not controls.
            ("résumé données 数据 ملف — é", "résumé données 数据 ملف — é"),
            // A backslash is kept: a name cannot forge a line with one.
            (r"C:\dir", r"C:\dir"),
        ];
        for (raw, shown) in cases {
            assert_eq!(escape(raw), shown, "{raw:?}");
        }
        assert!(matches!(escape("rows.txt"), Cow::Borrowed(_)));
        // Nothing escaped is left raw, for every character.
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let shown = escape(c.encode_utf8(&mut [0; 4])).into_owned();
            assert!(!shown.chars().any(needs_escape), "{c:?} -> {shown:?}");
            assert_eq!(shown.chars().count() == 1, !needs_escape(c), "{c:?}");
        }
    }

    #[test]
    fn json_keeps_its_value_and_loses_its_raw_controls() {
        let value = serde_json::json!({
            "name": "\x1b[31m\u{9b}2J\u{7f}\u{202e}\u{2028}\u{2066}é\n",
            "nested": ["ok", "\u{200f}"],
        });
        for text in [
            serde_json::to_string(&value).unwrap(),
            serde_json::to_string_pretty(&value).unwrap(),
        ] {
            let safe = escape_json(&text);
            assert!(
                !safe.chars().any(|c| c != '\n' && needs_escape(c)),
                "{safe}"
            );
            let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
            assert_eq!(back, value);
            // Pretty output keeps its line breaks.
            assert_eq!(safe.lines().count(), text.lines().count());
        }
        assert!(matches!(escape_json(r#"{"a":"b"}"#), Cow::Borrowed(_)));
    }
}
