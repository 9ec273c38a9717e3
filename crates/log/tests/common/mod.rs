//! Shared helpers: reading the interoperability vectors in the repository's testdata/vectors
//! (testdata/README.md names each file's source and licence).
#![allow(dead_code)]

use base64::Engine as _;

/// Directory of the vectors (the crate sits at crates/log, the vectors at testdata/vectors).
pub const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/vectors");

/// Reads a vector file as text.
pub fn read(name: &str) -> String {
    let path = format!("{VECTORS}/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Reads a JSON vector file.
pub fn json(name: &str) -> serde_json::Value {
    serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("parsing {name}: {e}"))
}

/// Standard base64 decode.
pub fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("base64 {s:?}: {e}"))
}

/// Hex decode.
pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("hex {s:?}: {e}"))
}

/// A JSON string field.
pub fn str_of<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

/// A JSON u64 field.
pub fn u64_of(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a u64 in {v}"))
}
