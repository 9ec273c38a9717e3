//! The node's API end to end through its router: real home, real log, real sandbox, requests
//! signed as clients sign them.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use axum::http::StatusCode;
use common::{TestNode, build, key};
use poex_core::Signer as _;
use serde_json::{Value, json};
use sha2::Digest as _;

const COUNT: &str = "wc -c < /data/cohort > /out/count.txt\necho counted\n";

#[tokio::test(flavor = "multi_thread")]
async fn health_info_and_unknown_paths_answer_json() {
    let t = TestNode::new();
    let (s, v) = t.json("GET", "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "ok");
    let (s, v) = t.json("GET", "/api/info", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["processor"]["keyId"],
        t.node.processor_id().to_string().as_str()
    );
    assert!(v["log"]["verifierKey"].as_str().unwrap().contains('+'));
    let (s, v) = t.json("GET", "/api/nothing", None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"], "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whole_job_over_the_api() {
    let t = TestNode::new();
    let alice = key();
    let alg = t.algorithm(&alice, "count.sh", COUNT).await;
    let ds = t.dataset("cohort", b"0123456789", &[&alg], &[&alice]).await;

    let (s, v) = t.submit(&alice, &alg, &[&ds], None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let done = t.wait(&id, |s| s != "queued" && s != "running").await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(done["logIndex"].as_u64().is_some());

    // Receipt and bundle are public; the bundle verifies under the node's keys.
    let (_, verdict) = t.bundle_and_verdict(&id).await;
    assert_eq!(verdict["ok"], true, "{verdict}");

    // Results: the requester only; each download is an audit event.
    let bob = key();
    let (s, v) = t
        .json("GET", &format!("/api/jobs/{id}/results"), Some(&bob), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("only the requester")
    );
    let (s, v) = t
        .json("GET", &format!("/api/jobs/{id}/results"), None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let (s, list) = t
        .json(
            "GET",
            &format!("/api/jobs/{id}/results"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["files"][0]["name"], "count.txt");
    let (s, bytes) = t
        .call(
            "GET",
            &format!("/api/jobs/{id}/results/count.txt"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(String::from_utf8_lossy(&bytes).trim(), "10");
    let want = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
    assert_eq!(list["files"][0]["sha256"], want.as_str());
    let (s, log) = t
        .call("GET", &format!("/api/jobs/{id}/log"), Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(String::from_utf8_lossy(&log).contains("counted"));

    let alice_id = alice.public_key().key_id().to_string();
    let downloads = t
        .audit(&format!("operation=download-result&job={id}"))
        .await;
    assert_eq!(downloads.len(), 1, "{downloads:?}");
    assert_eq!(downloads[0]["event"]["actor"], alice_id.as_str());
    assert_eq!(
        t.audit(&format!("operation=download-log&job={id}"))
            .await
            .len(),
        1
    );
    let denied = t.audit("operation=deny").await;
    assert!(denied.len() >= 2, "{denied:?}");
    assert_eq!(
        t.audit(&format!("operation=submit&job={id}")).await.len(),
        1
    );

    // Paths that try to leave the results folder.
    for bad in ["..%2Freceipt.json", "a/../../receipt.json"] {
        let (s, _) = t
            .call(
                "GET",
                &format!("/api/jobs/{id}/results/{bad}"),
                Some(&alice),
                None,
            )
            .await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::NOT_FOUND,
            "{bad}: {s}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_denials_are_403_and_logged() {
    let t = TestNode::new();
    let alice = key();
    let mallory = key();
    let alg = t.algorithm(&alice, "count.sh", COUNT).await;
    let other = t.algorithm(&mallory, "other.sh", "echo hi\n").await;
    let ds = t
        .dataset("cohort", b"secret rows", &[&alg], &[&alice])
        .await;

    // A requester the dataset does not list.
    let (s, v) = t.submit(&mallory, &alg, &[&ds], None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("does not allow requester"),
        "{v}"
    );
    // An algorithm the dataset does not list.
    let (s, v) = t.submit(&alice, &other, &[&ds], None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("does not allow algorithm"),
        "{v}"
    );
    // Someone else's request, submitted by mallory.
    let envelope = common::request(&alice, &alg, &[&ds], None).envelope;
    let (s, v) = t
        .json(
            "POST",
            "/api/jobs",
            Some(&mallory),
            Some(serde_json::to_value(&envelope).unwrap()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    // Only owners publish datasets.
    let object = t.upload(&mallory, b"x").await;
    let (s, v) = t
        .json(
            "POST",
            "/api/assets",
            Some(&mallory),
            Some(json!({"kind": "dataset", "name": "mine", "object": object})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

    let denials = t.audit("operation=deny").await;
    assert_eq!(denials.len(), 4, "{denials:?}");
    let (_, jobs) = t.json("GET", "/api/jobs", None, None).await;
    assert_eq!(
        jobs["jobs"].as_array().unwrap().len(),
        0,
        "nothing was queued"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signatures_are_required_checked_and_single_use() {
    let t = TestNode::new();
    let alice = key();
    // None at all.
    let (s, v) = t.json("POST", "/api/jobs", None, Some(json!({}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        v["message"].as_str().unwrap().contains("Signature-Input"),
        "{v}"
    );

    // A replay of a valid request.
    let body = b"some bytes".to_vec();
    let first = build(
        "POST",
        "/api/objects",
        Some(&alice),
        Some(("application/octet-stream", body.clone())),
    );
    let (headers, _) = first.into_parts();
    let again = |h: &axum::http::request::Parts| {
        let mut r = axum::http::Request::builder()
            .method("POST")
            .uri("/api/objects");
        for (k, v) in &h.headers {
            r = r.header(k, v);
        }
        r.body(axum::body::Body::from(body.clone())).unwrap()
    };
    let (s, _) = t.send(again(&headers)).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = t.send(again(&headers)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        String::from_utf8_lossy(&b).contains("already used"),
        "{}",
        String::from_utf8_lossy(&b)
    );

    // Signed for one path, sent to another.
    let mut r = build("GET", "/api/jobs/abc/results", Some(&alice), None);
    *r.uri_mut() = "/api/jobs/abd/results".parse().unwrap();
    let (s, b) = t.send(r).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "{}",
        String::from_utf8_lossy(&b)
    );

    // A body that is not the one signed.
    let r = build(
        "POST",
        "/api/objects",
        Some(&alice),
        Some(("application/octet-stream", b"signed".to_vec())),
    );
    let (parts, _) = r.into_parts();
    let swapped = axum::http::Request::from_parts(parts, axum::body::Body::from("swapped"));
    let (s, b) = t.send(swapped).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert!(String::from_utf8_lossy(&b).contains("nothing was kept"));

    // An expired signature: made with a created time an hour ago.
    let hour_ago = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
    let mut r = axum::http::Request::builder()
        .method("GET")
        .uri("/api/jobs/abc/log")
        .header("host", common::HOST);
    for (k, v) in poex_client::sign::sign_request(
        &alice,
        "GET",
        common::HOST,
        "/api/jobs/abc/log",
        None,
        hour_ago,
    )
    .unwrap()
    {
        r = r.header(k, v);
    }
    let (s, b) = t.send(r.body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        String::from_utf8_lossy(&b).contains("expire"),
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert!(t.audit("operation=deny").await.len() >= 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_uploads_get_4xx_and_leave_nothing() {
    let mut config = common::config();
    config.max_upload_bytes = 4000;
    let t = TestNode::with(config);
    let alice = key();
    let objects_before = count(&t.home().join("store/objects"));

    let (s, _) = t
        .call(
            "POST",
            "/api/objects",
            Some(&alice),
            Some(("application/octet-stream", vec![7u8; 8192])),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (s, _) = t
        .call(
            "POST",
            "/api/objects",
            Some(&alice),
            Some(("text/plain", b"hi".to_vec())),
        )
        .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Tar archives that try to leave the folder or smuggle links.
    for (name, kind) in [
        ("../evil", tar::EntryType::Regular),
        ("link", tar::EntryType::Symlink),
    ] {
        let mut builder = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(if kind == tar::EntryType::Regular {
            2
        } else {
            0
        });
        h.set_entry_type(kind);
        h.set_mode(0o644);
        if kind == tar::EntryType::Symlink {
            h.set_link_name("/etc/passwd").unwrap();
        }
        // set_path refuses "..", so write the name bytes directly as an attacker would.
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_cksum();
        let data: &[u8] = if kind == tar::EntryType::Regular {
            b"hi"
        } else {
            b""
        };
        builder.append(&h, data).unwrap();
        let archive = builder.into_inner().unwrap();
        let (s, b) = t
            .call(
                "POST",
                "/api/objects",
                Some(&alice),
                Some(("application/x-tar", archive)),
            )
            .await;
        assert_eq!(
            s,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            String::from_utf8_lossy(&b)
        );
    }
    // Malformed JSON.
    let (s, v) = t
        .call(
            "POST",
            "/api/assets",
            Some(&alice),
            Some(("application/json", b"{not json".to_vec())),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&v)
    );
    // Unknown ids.
    let (s, _) = t
        .json("GET", "/api/jobs/0123456789abcdef", None, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t.json("GET", "/api/jobs/..%2F..%2Fkeys", None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    assert_eq!(count(&t.home().join("store/objects")), objects_before);
    assert_eq!(
        count(&t.home().join("uploads")),
        0,
        "no upload left half-written"
    );
}

fn count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn folders_upload_as_tar() {
    let t = TestNode::new();
    let alice = key();
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in [
        ("main.sh", &b"cat lib/x > /out/x\n"[..]),
        ("lib/x", b"42\n"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        builder.append_data(&mut h, path, data).unwrap();
    }
    let archive = builder.into_inner().unwrap();
    let (s, b) = t
        .call(
            "POST",
            "/api/objects",
            Some(&alice),
            Some(("application/x-tar", archive)),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["layout"], "directory");
    assert_eq!(v["files"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_is_served_as_tlog_tiles() {
    let t = TestNode::new();
    let alice = key();
    t.algorithm(&alice, "a.sh", "true\n").await;
    let (s, note) = t.call("GET", "/log/checkpoint", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let note = String::from_utf8(note).unwrap();
    let size: u64 = note.lines().nth(1).unwrap().parse().unwrap();
    assert!(size >= 2, "{note}");
    // The entry bundle and the level-0 tile of that size: `size` entries and hashes.
    let path = poex_log::tile::BundleId::for_entry(0, size).unwrap().path();
    let (s, bundle) = t.call("GET", &format!("/log/{path}"), None, None).await;
    assert_eq!(s, StatusCode::OK, "{path}");
    let entries = poex_log::tile::EntryBundle::decode(&bundle).unwrap();
    assert_eq!(entries.width() as u64, size);
    let tile = poex_log::tile::TileId::at_size(0, 0, size).unwrap().path();
    let (s, hashes) = t.call("GET", &format!("/log/{tile}"), None, None).await;
    assert_eq!(s, StatusCode::OK, "{tile}");
    assert_eq!(hashes.len() as u64, size * 32);
    // Each hash is the RFC 9162 leaf hash of the served entry.
    for (i, e) in entries.entries().iter().enumerate() {
        assert_eq!(
            &hashes[i * 32..(i + 1) * 32],
            poex_log::hash::leaf_hash(e).as_bytes()
        );
    }
    for bad in [
        "/log/tile/../../keys/processor.key",
        "/log/tile/0/x001/../../..",
        "/log/tile/9/000",
    ] {
        let (s, b) = t.call("GET", bad, None, None).await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::NOT_FOUND,
            "{bad}: {s} {}",
            String::from_utf8_lossy(&b)
        );
        assert!(!String::from_utf8_lossy(&b).contains("PRIVATE KEY"));
    }
}

#[test]
fn the_openapi_document_matches_the_routes() {
    let doc: Value = serde_json::from_str(include_str!("../openapi.json")).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    let mut served: Vec<(String, String)> = poex_node::api::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    served.sort();
    assert_eq!(documented, served, "openapi.json and api::ROUTES differ");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_listed_route_is_routed() {
    let t = TestNode::new();
    for (method, path) in poex_node::api::ROUTES {
        let uri = path
            .replace("{kind}", "dataset")
            .replace("{name}", "x")
            .replace("{id}", "0123456789abcdef")
            .replace("{path}", "0/000")
            .replace("{file}", "app.js");
        let (s, b) = t.call(&method.to_uppercase(), &uri, None, None).await;
        let text = String::from_utf8_lossy(&b);
        assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert!(!text.contains("no such endpoint"), "{method} {uri}: {text}");
    }
}
