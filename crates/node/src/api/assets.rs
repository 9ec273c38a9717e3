//! Objects (uploaded bytes) and assets (registry records: datasets and algorithms).
//!
//! Publishing is two steps, so metadata is JSON and bytes stream: `POST /api/objects` streams
//! a file (or a tar of a folder) into the content-addressed store and returns its digests;
//! `POST /api/assets` registers an object — or, for owners, a file under `import_roots` — under
//! a name, with an entrypoint (algorithms) or a policy (datasets). Uploads land atomically: the
//! body goes to `HOME/uploads/.tmp-*`, its digest is checked, then it is imported (the store's
//! own create-then-rename), and the temporary copy is removed whatever happens.
//!
//! A dataset registered with `"sealAtRest": true` is kept encrypted at rest
//! (`poex_exec::at_rest`, docs/seal.md): its bytes are sealed to the owner's data identity and
//! only the sealed object stays in the store. Registered by `path`, its plaintext never enters
//! the store; registered by `object`, the uploaded plaintext object is removed once the sealed
//! record is written, unless another record still names it.

use std::collections::HashSet;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, PoisonError};

use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use poex_client::wire::{AssetList, Publish, Stored};
use poex_core::{Digest, DigestSet};
use poex_exec::at_rest;
use poex_store::audit::{Event, Operation};
use poex_store::hash::Layout;
use poex_store::registry::{Added, AssetKind, Name, Policy, Record, SealedAt};
use poex_verify::entry::Entry;
use serde::Deserialize;

use crate::auth::{self, Caller};
use crate::body;
use crate::error::{ApiError, ApiResult};
use crate::state::Node;

fn kind_of(text: &str) -> ApiResult<AssetKind> {
    match text {
        "dataset" => Ok(AssetKind::Dataset),
        "algorithm" => Ok(AssetKind::Algorithm),
        other => Err(ApiError::bad_request(format!(
            "kind {other:?} is neither \"dataset\" nor \"algorithm\""
        ))),
    }
}

fn random_name() -> String {
    poex_core::request::random_hex16().unwrap_or_else(|_| "upload".into())
}

/// `POST /api/objects`: stream bytes into the object store.
pub async fn upload(
    State(node): State<Arc<Node>>,
    Extension(timeout): Extension<body::Pace>,
    request: Request,
) -> ApiResult<(StatusCode, Json<Stored>)> {
    let (parts, body_stream) = request.into_parts();
    let caller = auth::authenticate(&node, &parts, true)?;
    let media = body::require_type(
        &parts.headers,
        &["application/octet-stream", "application/x-tar"],
    )?;
    let digest_header = auth::expected_body_digest(&parts.headers)?;
    body::check_length(&parts.headers, node.config.max_upload_bytes)?;
    let uploads = node.home.root.join("uploads");
    let temp = uploads.join(format!(".tmp-{}", random_name()));
    let received = body::to_file(body_stream, &temp, node.config.max_upload_bytes, timeout).await?;
    let node2 = node.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _cleanup = Cleanup(vec![temp.clone()]);
        auth::check_body_digest(&digest_header, &received.sha256)?;
        let source = if media == "application/x-tar" {
            let folder = uploads.join(format!(".tmp-{}", random_name()));
            let cleanup = Cleanup(vec![folder.clone()]);
            extract_tar(&temp, &folder)?;
            let stored = import(&node2, &folder)?;
            drop(cleanup);
            stored
        } else {
            import(&node2, &temp)?
        };
        Ok::<_, ApiError>(source)
    })
    .await
    .map_err(ApiError::internal)??;
    let mut ev = Event::now(caller.id(), Operation::Upload, "object");
    ev.digest = result.digests.sha256().copied();
    ev.detail = Some(format!(
        "{} bytes, {} file(s)",
        result.total_bytes,
        result.files.len()
    ));
    node.audit(vec![ev]);
    Ok((StatusCode::CREATED, Json(tree_json(&result))))
}

/// Removes temporary paths when dropped.
struct Cleanup(Vec<PathBuf>);
impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
        }
    }
}

fn import(node: &Node, path: &Path) -> ApiResult<poex_store::hash::Tree> {
    let stored = node
        .home
        .store
        .objects()
        .import(path, &|_| {})
        .map_err(|e| ApiError::bad_request(format!("the upload could not be stored: {e}")))?;
    Ok(stored.tree)
}

fn tree_json(tree: &poex_store::hash::Tree) -> Stored {
    Stored {
        digests: tree.digests.iter().map(ToString::to_string).collect(),
        object: tree.digests.blake3().map(ToString::to_string),
        layout: match tree.kind {
            Layout::Directory => "directory",
            _ => "file",
        }
        .into(),
        size: tree.total_bytes,
        files: tree.files.len() as u64,
    }
}

/// The longest file or folder name in an uploaded tar (Linux's `NAME_MAX`).
pub const MAX_TAR_NAME_BYTES: usize = 255;
/// The longest path in an uploaded tar, relative to the folder it unpacks to: what stays of
/// Linux's 4096-byte `PATH_MAX` once the node's own folders are in front of it.
pub const MAX_TAR_PATH_BYTES: usize = 2048;

/// Extracts a tar archive into a new folder, refusing anything that could land outside it
/// or that the store would refuse: absolute paths, `..`, links, devices, a name used both as
/// a file and as a folder, names or paths longer than the file system takes. Every refusal
/// is a 400 naming the entry; nothing is kept.
fn extract_tar(archive: &Path, into: &Path) -> ApiResult<()> {
    let bad = |m: String| ApiError::bad_request(format!("{m}; nothing was kept"));
    std::fs::create_dir(into).map_err(ApiError::internal)?;
    let file = std::fs::File::open(archive).map_err(ApiError::internal)?;
    let mut tar = tar::Archive::new(file);
    let entries = tar
        .entries()
        .map_err(|e| bad(format!("not a tar archive: {e}")))?;
    // What the archive made so far: a later entry may not turn a file into a folder or back.
    let mut files: HashSet<PathBuf> = HashSet::new();
    let mut folders: HashSet<PathBuf> = HashSet::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("malformed tar archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("malformed tar entry name: {e}")))?
            .into_owned();
        let shown: String = path.display().to_string().chars().take(200).collect();
        let mut rel = PathBuf::new();
        for c in path.components() {
            match c {
                Component::Normal(n) => {
                    if n.len() > MAX_TAR_NAME_BYTES {
                        return Err(bad(format!(
                            "tar entry {shown:?} has a name of {} bytes; names may have at most {MAX_TAR_NAME_BYTES}",
                            n.len()
                        )));
                    }
                    rel.push(n);
                }
                Component::CurDir => {}
                _ => {
                    return Err(bad(format!(
                        "tar entry {shown:?} leaves the folder (absolute path or '..')"
                    )));
                }
            }
        }
        if rel.as_os_str().is_empty() {
            continue;
        }
        if rel.as_os_str().len() > MAX_TAR_PATH_BYTES {
            return Err(bad(format!(
                "tar entry {shown:?} has a path of {} bytes; paths may have at most {MAX_TAR_PATH_BYTES}",
                rel.as_os_str().len()
            )));
        }
        let kind = entry.header().entry_type();
        if !kind.is_dir() && !kind.is_file() {
            return Err(bad(format!(
                "tar entry {shown:?} is a link or special file; only regular files and folders can be uploaded"
            )));
        }
        // Every folder above the entry must not be a file of the archive.
        let mut parents: Vec<PathBuf> = rel.ancestors().skip(1).map(Path::to_owned).collect();
        parents.retain(|p| !p.as_os_str().is_empty());
        if let Some(file) = parents.iter().find(|p| files.contains(*p)) {
            return Err(bad(format!(
                "tar entry {shown:?} puts something inside {:?}, which the archive has as a file",
                file.display()
            )));
        }
        if kind.is_dir() {
            if files.contains(&rel) {
                return Err(bad(format!(
                    "tar entry {shown:?} is a folder, and the archive has it as a file too"
                )));
            }
        } else if folders.contains(&rel) {
            return Err(bad(format!(
                "tar entry {shown:?} is a file, and the archive has it as a folder too"
            )));
        } else if files.contains(&rel) {
            return Err(bad(format!("tar entry {shown:?} appears twice")));
        }
        folders.extend(parents);
        let target = into.join(&rel);
        // Anything the checks above did not foresee is still the archive's fault, not the
        // node's: it is a 400 naming the entry.
        let fs_error = |e: io::Error| match e.kind() {
            io::ErrorKind::NotADirectory
            | io::ErrorKind::IsADirectory
            | io::ErrorKind::AlreadyExists
            | io::ErrorKind::InvalidFilename
            | io::ErrorKind::InvalidInput => {
                bad(format!("tar entry {shown:?} cannot be unpacked: {e}"))
            }
            _ => ApiError::internal(e),
        };
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(fs_error)?;
            folders.insert(rel);
        } else {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(fs_error)?;
            }
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .map_err(fs_error)?;
            io::copy(&mut entry, &mut out).map_err(|e| bad(format!("tar entry {shown:?}: {e}")))?;
            files.insert(rel);
        }
    }
    Ok(())
}

/// What a record says of its content, from hashing (and, sealed at rest, sealing) it.
struct Content {
    digests: DigestSet,
    layout: Layout,
    size: u64,
    file_count: u64,
    sealed: Option<SealedAt>,
}

impl Content {
    fn of_tree(tree: &poex_store::hash::Tree) -> Content {
        Content {
            digests: tree.digests.clone(),
            layout: tree.kind,
            size: tree.total_bytes,
            file_count: tree.files.len() as u64,
            sealed: None,
        }
    }
}

/// Seals the file or folder at `path` to the node's data identity into the store.
fn seal(node: &Node, path: &Path) -> ApiResult<Content> {
    let identity = node.data_identity().map_err(ApiError::internal)?;
    let sealed = at_rest::seal_into_store(
        node.home.store.objects(),
        path,
        &identity.recipient(),
        &|_| {},
    )
    .map_err(|e| match e {
        at_rest::AtRestError::Hash(e) => ApiError::bad_request(format!("{e}; nothing was kept")),
        other => ApiError::internal(other),
    })?;
    Ok(Content {
        digests: sealed.digests,
        layout: sealed.layout,
        size: sealed.size,
        file_count: sealed.file_count,
        sealed: Some(sealed.sealed),
    })
}

/// Removes the object `digest` unless a record names it. Called with the publish lock held,
/// so no publish registers it meanwhile. Failures are logged: the record is written already.
fn remove_unreferenced(node: &Node, digest: &Digest) -> bool {
    let registry = node.home.store.registry();
    let named = [AssetKind::Dataset, AssetKind::Algorithm].iter().any(|k| {
        registry
            .list(*k)
            .map(|records| records.iter().any(|r| r.object() == Some(digest)))
            // Unsure: keep it.
            .unwrap_or(true)
    });
    if named {
        return false;
    }
    match at_rest::remove_object(node.home.store.objects(), digest) {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(object = %digest, error = %e, "could not remove an object");
            false
        }
    }
}

/// `POST /api/assets`: register an object or a local file under a name.
pub async fn publish(
    State(node): State<Arc<Node>>,
    Extension(timeout): Extension<body::Pace>,
    request: Request,
) -> ApiResult<(StatusCode, Json<Record>)> {
    let (caller, parts, bytes) = auth::signed_json(&node, request, timeout).await?;
    let req: Publish = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let node2 = node.clone();
    let parts2 = parts.clone();
    tokio::task::spawn_blocking(move || publish_blocking(&node2, &caller, &parts2, req))
        .await
        .map_err(ApiError::internal)?
}

fn publish_blocking(
    node: &Node,
    caller: &Caller,
    parts: &axum::http::request::Parts,
    req: Publish,
) -> ApiResult<(StatusCode, Json<Record>)> {
    let kind = kind_of(&req.kind)?;
    let name =
        Name::new(req.name.as_str()).map_err(|e| ApiError::bad_request(format!("name: {e}")))?;
    let who = caller.id();
    let deny = |why: String| {
        auth::deny(node, &who, parts, &why);
        ApiError::forbidden(why)
    };
    if kind == AssetKind::Dataset && !node.is_owner(&who) {
        return Err(deny(format!(
            "only the node's owners may publish datasets (you are {who}); ask the data owner"
        )));
    }
    if req.seal_at_rest && kind != AssetKind::Dataset {
        return Err(ApiError::bad_request(
            "only datasets can be kept sealed at rest (\"sealAtRest\"); an algorithm is mounted as published",
        ));
    }
    let (entrypoint, policy) = match kind {
        AssetKind::Algorithm => {
            if req.policy.is_some() {
                return Err(ApiError::bad_request(
                    "an algorithm has no policy; policies belong to datasets",
                ));
            }
            let argv = req.entrypoint.unwrap_or_default();
            if argv.is_empty() || argv.iter().any(String::is_empty) {
                return Err(ApiError::bad_request(
                    "an algorithm needs an entrypoint, e.g. [\"python3\", \"main.py\"]",
                ));
            }
            if let Some(i) = argv.iter().position(|a| a.contains('\0')) {
                return Err(ApiError::bad_request(format!(
                    "entrypoint[{i}] contains a NUL byte, which no program can receive"
                )));
            }
            (Some(argv), None)
        }
        _ => {
            if req.entrypoint.is_some() {
                return Err(ApiError::bad_request("a dataset has no entrypoint"));
            }
            let p = req.policy.unwrap_or_default();
            let mut allowed_algorithms = Vec::new();
            for a in &p.allowed_algorithms {
                let d: Digest = a.parse().map_err(|e| {
                    ApiError::bad_request(format!("policy.allowedAlgorithms: {a:?}: {e}"))
                })?;
                allowed_algorithms.push(d);
            }
            for r in &p.allowed_requesters {
                r.parse::<poex_core::KeyId>()
                    .map_err(|e| ApiError::bad_request(format!("policy.allowedRequesters: {e}")))?;
            }
            (
                None,
                Some(Policy {
                    allowed_algorithms,
                    allowed_requesters: p.allowed_requesters,
                }),
            )
        }
    };
    // One publish at a time: a sealed publish may remove the plaintext object another would
    // register (see remove_unreferenced).
    let _publishing = node
        .publish_lock
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let mut upload = None;
    let content = match (req.object, req.path) {
        (Some(object), None) => {
            let digest: Digest = object
                .parse()
                .map_err(|e| ApiError::bad_request(format!("object: {e}")))?;
            let path = node.home.store.objects().path_of(&digest).map_err(|_| {
                ApiError::not_found(format!(
                    "no object {object} on this node; upload it first (POST /api/objects)"
                ))
            })?;
            if !path.exists() {
                return Err(ApiError::not_found(format!(
                    "no object {object} on this node; upload it first (POST /api/objects)"
                )));
            }
            // Both digests the record needs, from the stored bytes; they must match the name.
            let content = if req.seal_at_rest {
                upload = Some(digest);
                seal(node, &path)?
            } else {
                let tree = poex_store::hash::hash_tree(
                    &path,
                    &[poex_core::Algorithm::Sha256, poex_core::Algorithm::Blake3],
                    &|_| {},
                )
                .map_err(ApiError::internal)?;
                Content::of_tree(&tree)
            };
            if content.digests.blake3() != Some(&digest) {
                if let Some(sealed) = content.sealed.as_ref().and_then(|s| s.digests.blake3()) {
                    let _ = at_rest::remove_object(node.home.store.objects(), sealed);
                }
                return Err(ApiError::internal(format!(
                    "stored object {object} does not match its name: the store is damaged"
                )));
            }
            content
        }
        (None, Some(path)) => {
            if !node.is_owner(&who) {
                return Err(deny(format!(
                    "only the node's owners may register files by path (you are {who})"
                )));
            }
            let allowed = allowed_path(&node.config.import_roots, &path)?;
            if req.seal_at_rest {
                seal(node, &allowed)?
            } else {
                Content::of_tree(&import(node, &allowed)?)
            }
        }
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of \"object\" (an uploaded object's blake3 digest) or \"path\"",
            ));
        }
    };
    let record = Record {
        kind,
        name: name.clone(),
        digests: content.digests.clone(),
        layout: content.layout,
        size: content.size,
        file_count: content.file_count,
        published_at: poex_store::now_rfc3339(),
        publisher: who.clone(),
        entrypoint,
        policy,
        sealed: content.sealed.clone(),
    };
    // The sealed object made for this publish, if the record does not end up naming it.
    let new_sealed = content.sealed.as_ref().and_then(|s| s.digests.blake3());
    let drop_new_sealed = || {
        if let Some(digest) = new_sealed {
            let _ = at_rest::remove_object(node.home.store.objects(), digest);
        }
    };
    let added = node.home.store.registry().add(&record);
    if !matches!(added, Ok(Added::Created)) {
        drop_new_sealed();
    }
    if let Ok(Added::AlreadyPresent { existing }) = &added
        && req.seal_at_rest
        && existing.sealed.is_none()
    {
        return Err(ApiError::conflict(format!(
            "{kind} {name} is already published with this content, kept in plaintext; publish it sealed at rest under a new name"
        )));
    }
    let added = added.map_err(|e| {
        let text = e.to_string();
        if text.contains("already") || text.contains("different") {
            ApiError::conflict(format!(
                "{text}; registry names are write-once: choose a new name"
            ))
        } else {
            ApiError::internal(text)
        }
    })?;
    let (status, record) = match added {
        Added::Created => (StatusCode::CREATED, record),
        Added::AlreadyPresent { existing } => (StatusCode::OK, *existing),
    };
    // The uploaded plaintext goes once a sealed record holds the dataset, unless another
    // record names it.
    let removed =
        upload.is_some_and(|digest| record.sealed.is_some() && remove_unreferenced(node, &digest));
    if status == StatusCode::CREATED {
        let mut ev = Event::now(&who, Operation::Publish, name.as_str());
        ev.digest = record.digests.sha256().copied();
        ev.detail = Some(match (&record.sealed, removed) {
            (None, _) => format!("{kind} published over the node API"),
            (Some(s), removed) => format!(
                "{kind} published over the node API, sealed at rest as {}{}",
                s.digests
                    .blake3()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                if removed {
                    "; the uploaded plaintext was removed from the store"
                } else {
                    ""
                }
            ),
        });
        node.ledger
            .append(&[Entry::Record(record.clone()), Entry::Event(ev)])
            .map_err(ApiError::internal)?;
    }
    Ok((status, Json(record)))
}

/// The canonical path of `path` if it lies under one of `roots`.
fn allowed_path(roots: &[PathBuf], path: &Path) -> ApiResult<PathBuf> {
    if roots.is_empty() {
        return Err(ApiError::forbidden(
            "this node registers no files by path (its import_roots setting is empty); upload the bytes instead",
        ));
    }
    let canonical = std::fs::canonicalize(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            ApiError::not_found(format!("{}: no such file or folder", path.display()))
        }
        _ => ApiError::bad_request(format!("{}: {e}", path.display())),
    })?;
    for root in roots {
        if let Ok(root) = std::fs::canonicalize(root)
            && canonical.starts_with(&root)
        {
            return Ok(canonical);
        }
    }
    Err(ApiError::forbidden(format!(
        "{} is outside the node's import_roots; only files under them can be registered by path",
        path.display()
    )))
}

/// `GET /api/assets?kind=` query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    kind: Option<String>,
}

/// `GET /api/assets`.
pub async fn list(
    State(node): State<Arc<Node>>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<AssetList>> {
    let kinds = match q.kind.as_deref() {
        None => vec![AssetKind::Dataset, AssetKind::Algorithm],
        Some(k) => vec![kind_of(k)?],
    };
    let mut out = Vec::new();
    for k in kinds {
        let records = node
            .home
            .store
            .registry()
            .list(k)
            .map_err(ApiError::internal)?;
        out.extend(records);
    }
    Ok(Json(AssetList { assets: out }))
}

/// `GET /api/assets/{kind}/{name}`.
pub async fn show(
    State(node): State<Arc<Node>>,
    UrlPath((kind, name)): UrlPath<(String, String)>,
) -> ApiResult<Json<Record>> {
    let kind = kind_of(&kind)?;
    let parsed =
        Name::new(name.as_str()).map_err(|e| ApiError::bad_request(format!("name: {e}")))?;
    match node
        .home
        .store
        .registry()
        .get(kind, &parsed)
        .map_err(ApiError::internal)?
    {
        Some(r) => Ok(Json(r)),
        None => Err(ApiError::not_found(format!(
            "no {kind} named {name:?} on this node"
        ))),
    }
}
