//! tlog_tiles_paths.json: index encoding and the tiles that exist for a tree size.
mod common;

use std::collections::BTreeSet;

use poex_log::tile::{
    BundleId, TileId, bundles_for_size, edge_bundle, edge_tiles, encode_index, parse_index,
    tiles_for_size,
};

fn all_paths(size: u64) -> BTreeSet<String> {
    let tiles = tiles_for_size(size).into_iter().map(|t| t.path());
    tiles
        .chain(bundles_for_size(size).into_iter().map(|b| b.path()))
        .collect()
}

fn strings(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|p| p.as_str().expect("path").to_owned())
        .collect()
}

#[test]
fn tlog_tiles_paths() {
    let v = common::json("tlog_tiles_paths.json");
    for case in v["index_encoding"].as_array().expect("index_encoding") {
        let (n, path) = (common::u64_of(case, "n"), common::str_of(case, "path"));
        assert_eq!(encode_index(n), path);
        assert_eq!(parse_index(path), Ok(n));
    }

    let big = &v["tree_size_70000_from_spec_text"];
    let tiles = tiles_for_size(70_000);
    let count = |level: u8, full: bool| {
        tiles
            .iter()
            .filter(|t| t.level == level && t.is_full() == full)
            .count() as u64
    };
    assert_eq!(count(0, true), common::u64_of(big, "level0_full"));
    assert_eq!(count(1, true), common::u64_of(big, "level1_full"));
    assert_eq!(count(2, true), 0);
    let widths: Vec<(u8, u16)> = edge_tiles(70_000)
        .iter()
        .map(|t| (t.level, t.width))
        .collect();
    assert_eq!(
        widths,
        [
            (0, common::u64_of(big, "level0_partial_width") as u16),
            (1, common::u64_of(big, "level1_partial_width") as u16),
            (2, common::u64_of(big, "level2_partial_width") as u16),
        ]
    );
    let non_full: BTreeSet<String> = all_paths(70_000)
        .into_iter()
        .filter(|p| p.contains(".p/"))
        .collect();
    assert_eq!(non_full, strings(&big["non_full_paths"]));
    assert_eq!(
        edge_bundle(70_000).map(|b| b.path()).as_deref(),
        Some("tile/entries/273.p/112")
    );

    assert_eq!(
        all_paths(256),
        strings(&v["tree_size_256_from_spec_text"]["paths"])
    );
    assert_eq!(
        all_paths(300),
        strings(&v["tree_size_300_sunlight_testdata"])
    );
    assert_eq!(all_paths(15), strings(&v["tree_size_15_tessera_testdata"]));
    assert!(all_paths(0).is_empty());

    // Every path named parses back to itself.
    for size in [15, 256, 300, 70_000] {
        for tile in tiles_for_size(size) {
            assert_eq!(TileId::parse_path(&tile.path()), Ok(tile));
        }
        for bundle in bundles_for_size(size) {
            assert_eq!(BundleId::parse_path(&bundle.path()), Ok(bundle));
        }
    }
}
