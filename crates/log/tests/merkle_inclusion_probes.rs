//! Every line of merkle_inclusion_probes.jsonl (transparency-dev/merkle testdata/inclusion).
mod common;

use poex_log::proof::verify_inclusion_bytes;

#[test]
fn every_inclusion_probe_gives_want_err() {
    let text = common::read("merkle_inclusion_probes.jsonl");
    let (mut ok, mut failed) = (0, 0);
    let mut wrong = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("probe line is JSON");
        let proof: Vec<Vec<u8>> = v["proof"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| common::b64(p.as_str().expect("proof hash")))
                    .collect()
            })
            .unwrap_or_default();
        let got = verify_inclusion_bytes(
            &common::b64(common::str_of(&v, "leafHash")),
            common::u64_of(&v, "leafIdx"),
            common::u64_of(&v, "treeSize"),
            &proof,
            &common::b64(common::str_of(&v, "root")),
        );
        let want_err = v["wantErr"].as_bool().expect("wantErr");
        if got.is_err() != want_err {
            wrong.push(format!(
                "{}: want_err={want_err}, got {got:?}",
                common::str_of(&v, "source")
            ));
        }
        if got.is_ok() {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!((ok, failed), (6, 92));
}
