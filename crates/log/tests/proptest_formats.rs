//! Round trips of every format: parse(write(x)) == x and write(parse(bytes)) == bytes.
use poex_log::checkpoint::{Checkpoint, Origin, TreeSize};
use poex_log::hash::Hash;
use poex_log::note::{KeyId, Note, Signature};
use poex_log::tile::{BundleId, EntryBundle, HashTile, TileId, encode_index, parse_index};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9./_-]{1,24}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn checkpoints_round_trip(
        origin in name(), size: u64, root: [u8; 32],
        extensions in proptest::collection::vec("[ -~]{1,40}", 0..3),
    ) {
        let checkpoint = Checkpoint {
            origin: origin.parse::<Origin>().expect("origin"),
            size: TreeSize(size),
            root: Hash::from_bytes(root),
            extensions,
        };
        let body = checkpoint.to_body();
        prop_assert_eq!(Checkpoint::parse(&body).expect("parse"), checkpoint);
    }

    #[test]
    fn notes_round_trip(
        text in "([ -~]{0,30}\n){1,4}",
        sigs in proptest::collection::vec((name(), any::<u32>(), proptest::collection::vec(any::<u8>(), 1..80)), 1..5),
    ) {
        let note = Note {
            text,
            signatures: sigs
                .into_iter()
                .map(|(name, id, signature)| Signature { name, key_id: KeyId(id), signature })
                .collect(),
        };
        let bytes = note.to_bytes();
        // The text may itself contain blank lines: parsing splits at the last one, as Go does.
        prop_assert_eq!(Note::parse(&bytes).expect("parse").to_bytes(), bytes);
    }

    #[test]
    fn bundles_and_tiles_round_trip(
        entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..40),
        hashes in proptest::collection::vec(any::<[u8; 32]>(), 1..256),
    ) {
        let mut bundle = EntryBundle::new();
        for e in &entries {
            bundle.push(e.clone()).expect("push");
        }
        let bytes = bundle.encode();
        prop_assert_eq!(EntryBundle::decode(&bytes).expect("decode"), bundle);
        let tile = HashTile::new(hashes.into_iter().map(Hash::from_bytes).collect()).expect("tile");
        prop_assert_eq!(HashTile::from_bytes(&tile.to_bytes()).expect("parse"), tile);
    }

    #[test]
    fn paths_round_trip(level in 0u8..=63, index: u64, width in 1u16..=256) {
        prop_assert_eq!(parse_index(&encode_index(index)), Ok(index));
        let tile = TileId { level, index, width };
        prop_assert_eq!(TileId::parse_path(&tile.path()), Ok(tile));
        let bundle = BundleId { index, width };
        prop_assert_eq!(BundleId::parse_path(&bundle.path()), Ok(bundle));
    }

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Note::parse(&bytes);
        let _ = EntryBundle::decode(&bytes);
        let _ = HashTile::from_bytes(&bytes);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = Checkpoint::parse(text);
            let _ = TileId::parse_path(text);
            let _ = BundleId::parse_path(text);
            let _ = poex_log::note::Ed25519Verifier::parse(text);
            let _ = poex_log::note::Ed25519Signer::parse(text);
        }
    }
}
