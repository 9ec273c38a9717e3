//! The log served per C2SP tlog-tiles, under `/log/`: `checkpoint`, `tile/<L>/<N>[.p/<W>]`
//! and `tile/entries/<N>[.p/<W>]`, so any tlog-tiles client can read and check it.
//!
//! Full tiles never change and are served `immutable`; the checkpoint is not cached. A partial
//! tile of a size that was never stored on its own is cut from a wider stored tile (a wider
//! tile extends a narrower one, so the first W hashes or entries are exactly the partial
//! tile's). Paths are parsed as tlog-tiles paths before any file is opened, so nothing outside
//! the log directory can be named.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use poex_log::tile::{BundleId, EntryBundle, TileId};
use poex_log_store::dir::DirFiles;

use crate::error::{ApiError, ApiResult};
use crate::state::Node;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Tiles and bundles already served, by path. Every tlog-tiles path names bytes that never
/// change (a partial tile of width W is always the same W hashes), so a hit needs no check;
/// misses (404) are not kept. Bounded: when it would exceed its budget it starts over.
#[derive(Debug, Default)]
pub struct Cache {
    inner: Mutex<Cached>,
}

/// The cached files (bytes, whether full) and their total size.
#[derive(Debug, Default)]
struct Cached {
    files: HashMap<String, (Bytes, bool)>,
    bytes: usize,
}

/// Bytes the tile cache may hold.
const CACHE_BYTES: usize = 64 << 20;

impl Cache {
    fn get(&self, path: &str) -> Option<(Bytes, bool)> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.files.get(path).cloned()
    }

    fn put(&self, path: String, bytes: Bytes, full: bool) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.bytes + bytes.len() > CACHE_BYTES {
            inner.files.clear();
            inner.bytes = 0;
        }
        inner.bytes += bytes.len();
        inner.files.insert(path, (bytes, full));
    }
}

fn dir(node: &Node) -> poex_log_store::dir::DirTiles {
    DirFiles::tiles(node.ledger.tiles_dir(), node.ledger.size())
}

/// `GET /log/checkpoint`.
pub async fn checkpoint(State(node): State<Arc<Node>>) -> ApiResult<Response> {
    let bytes = tokio::task::spawn_blocking(move || dir(&node).checkpoint())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /log/tile/{*path}`.
pub async fn tile(State(node): State<Arc<Node>>, Path(rest): Path<String>) -> ApiResult<Response> {
    let path = format!("tile/{rest}");
    let (bytes, full) = match node.tiles.get(&path) {
        Some(hit) => hit,
        None => {
            let node2 = node.clone();
            let key = path.clone();
            let (bytes, full) = tokio::task::spawn_blocking(move || read(&node2, &key))
                .await
                .map_err(ApiError::internal)??;
            let bytes = Bytes::from(bytes);
            node.tiles.put(path, bytes.clone(), full);
            (bytes, full)
        }
    };
    let cache = if full { IMMUTABLE } else { "no-cache" };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        bytes,
    )
        .into_response())
}

fn not_found(path: &str) -> ApiError {
    ApiError::not_found(format!("{path} is not in this log (yet)"))
}

/// The bytes of one tile or bundle, and whether it is full.
pub fn read(node: &Node, path: &str) -> ApiResult<(Vec<u8>, bool)> {
    // The size of the checkpoint clients can have seen: tiles of it are complete on disk.
    let size = node
        .ledger
        .checkpoint()
        .map(|(c, _)| c.size.get())
        .unwrap_or(0);
    let tiles = dir(node);
    let tiles = tiles.at(size);
    if path.starts_with("tile/entries/") {
        let id = BundleId::parse_path(path)
            .map_err(|e| ApiError::not_found(format!("{path} is not a tile of this log: {e}")))?;
        if let Some(b) = tiles.read(&id.path()).map_err(ApiError::internal)? {
            return Ok((b, id.is_full()));
        }
        let full = BundleId {
            width: poex_log::tile::TILE_WIDTH,
            ..id
        };
        let bytes = tiles
            .read(&full.path())
            .map_err(ApiError::internal)?
            .ok_or_else(|| not_found(path))?;
        let bundle = EntryBundle::decode(&bytes).map_err(ApiError::internal)?;
        let mut cut = EntryBundle::new();
        for e in bundle.entries().iter().take(usize::from(id.width)) {
            cut.push(e.clone()).map_err(ApiError::internal)?;
        }
        if cut.width() != id.width {
            return Err(not_found(path));
        }
        return Ok((cut.encode(), false));
    }
    let id = TileId::parse_path(path)
        .map_err(|e| ApiError::not_found(format!("{path} is not a tile of this log: {e}")))?;
    for candidate in id.serving_tiles(size) {
        if let Some(bytes) = tiles.read(&candidate.path()).map_err(ApiError::internal)? {
            let want = usize::from(id.width) * 32;
            if bytes.len() < want {
                continue;
            }
            return Ok((bytes[..want].to_vec(), id.is_full()));
        }
    }
    Err(not_found(path))
}
