//! Jobs: submit a signed request, follow it, cancel it, fetch its receipt, bundle, results
//! and execution log.

use std::path::{Component, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use poex_client::wire::{Job, JobLinks, JobPage, Progress, ResultFile, ResultList};
use poex_core::dsse::Envelope;
use poex_core::receipt;
use poex_core::request::{SignedRequest, random_hex16};
use poex_store::audit::{Event, Operation};
use poex_store::registry::{AssetKind, Name};
use serde::Deserialize;
use sha2::Digest as _;

use crate::auth::{self, Caller};
use crate::error::{ApiError, ApiResult};
use crate::queue::{JobRecord, JobState, QueueError, Snapshot};
use crate::state::Node;

fn queue_error(e: QueueError) -> ApiError {
    match e {
        QueueError::TooMany { .. } => ApiError::too_many(e.to_string()).retry_after(10),
        QueueError::Stopping => ApiError::unavailable(e.to_string()).retry_after(30),
        QueueError::Log(_) => ApiError::unavailable(e.to_string()).retry_after(5),
        QueueError::Unknown(_) => ApiError::not_found(e.to_string()),
        QueueError::Ended { .. } => ApiError::conflict(e.to_string()),
        other => ApiError::internal(other),
    }
}

fn job_json(record: &JobRecord, progress: Option<Snapshot>) -> Job {
    Job {
        id: record.id.clone(),
        seq: None,
        requester: record.requester.clone(),
        algorithm: record.algorithm.clone(),
        datasets: record.datasets.clone(),
        state: record.state,
        status: record.status,
        reason: record.reason.clone(),
        submitted_at: record.submitted_at.clone(),
        started_at: record.started_at.clone(),
        finished_at: record.finished_at.clone(),
        log_index: record.log_index,
        progress: progress.map(|p| Progress {
            stage: p.stage,
            bytes_done: p.done,
            bytes_total: p.total,
        }),
        links: JobLinks::of(&record.id),
    }
}

/// `POST /api/jobs`: a DSSE-enveloped job request signed by the caller.
pub async fn submit(
    State(node): State<Arc<Node>>,
    Extension(timeout): Extension<crate::body::Pace>,
    request: Request,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let (caller, parts, bytes) = auth::signed_json(&node, request, timeout).await?;
    let envelope: Envelope = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not a DSSE envelope of a job request: {e}; `poex request` makes one"
        ))
    })?;
    let signed = SignedRequest::open(envelope)
        .map_err(|e| ApiError::bad_request(format!("job request: {e}")))?;
    if node.is_stopping() {
        return Err(ApiError::unavailable(
            "the node is shutting down and accepts no new jobs; retry when it is back",
        )
        .retry_after(30));
    }
    let node2 = node.clone();
    tokio::task::spawn_blocking(move || {
        authorize(&node2, &caller, &parts, &signed)?;
        // What the pipeline could not run is refused now, not accepted to fail later.
        crate::preflight::check(&signed.request, &node2.ceiling())?;
        let id = random_hex16().map_err(ApiError::internal)?;
        // The `submit` event is logged before the job is: an accepted job always has it.
        let record = node2
            .queue
            .submit(id, &signed, |record| node2.log_submit(record))
            .map_err(queue_error)?;
        Ok((StatusCode::ACCEPTED, Json(job_json(&record, None))))
    })
    .await
    .map_err(ApiError::internal)?
}

/// The caller must be the request's signer, and every dataset's policy must let them run
/// this algorithm. (The pipeline checks all of it again, with the bytes, before running.)
fn authorize(
    node: &Node,
    caller: &Caller,
    parts: &axum::http::request::Parts,
    signed: &SignedRequest,
) -> ApiResult<()> {
    let who = caller.id();
    let deny = |why: String| {
        auth::deny(node, &who, parts, &why);
        ApiError::forbidden(why)
    };
    let req = &signed.request;
    if req.requester.key_id != caller.id {
        return Err(deny(format!(
            "the job request is signed by {}, but the HTTP request by {who}: submit your own requests",
            req.requester.key_id
        )));
    }
    let registry = node.home.store.registry();
    let lookup = |kind: AssetKind, name: &str| {
        let parsed =
            Name::new(name).map_err(|e| ApiError::bad_request(format!("{kind} name: {e}")))?;
        registry
            .get(kind, &parsed)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found(format!("no {kind} named {name:?} on this node")))
    };
    let algorithm = lookup(AssetKind::Algorithm, &req.algorithm.name)?;
    let alg_sha = algorithm.digests.sha256().copied();
    for wanted in &req.datasets {
        let ds = lookup(AssetKind::Dataset, &wanted.name)?;
        if !ds.allows_requester(&who) {
            return Err(deny(format!(
                "dataset {:?} does not allow requester {who}; its owner decides who may use it",
                wanted.name
            )));
        }
        if !alg_sha.is_some_and(|d| ds.allows_algorithm(&d)) {
            return Err(deny(format!(
                "dataset {:?} does not allow algorithm {:?}; its owner decides which algorithms may run on it",
                wanted.name, req.algorithm.name
            )));
        }
    }
    Ok(())
}

/// `GET /api/jobs` query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    requester: Option<String>,
    state: Option<String>,
    limit: Option<usize>,
    /// Jobs submitted before this one (by `seq`), for the next page.
    before: Option<u64>,
}

/// `GET /api/jobs`: newest first.
pub async fn list(
    State(node): State<Arc<Node>>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<JobPage>> {
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(
            JobState::parse(s)
                .ok_or_else(|| ApiError::bad_request(format!("state {s:?} is not a job state")))?,
        ),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let jobs = node
        .queue
        .list(q.requester.as_deref(), state, q.before, limit + 1);
    let more = jobs.len() > limit;
    let page: Vec<Job> = jobs
        .iter()
        .take(limit)
        .map(|j| Job {
            seq: Some(j.seq),
            ..job_json(j, node.queue.get(&j.id).and_then(|(_, p)| p))
        })
        .collect();
    let next_before = more.then(|| jobs[limit - 1].seq);
    Ok(Json(JobPage {
        jobs: page,
        next_before,
    }))
}

fn valid_id(id: &str) -> ApiResult<()> {
    if !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("{id:?} is not a job id")))
    }
}

fn find(node: &Node, id: &str) -> ApiResult<(JobRecord, Option<Snapshot>)> {
    valid_id(id)?;
    node.queue
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("no job {id} on this node")))
}

/// `GET /api/jobs/{id}`.
pub async fn show(
    State(node): State<Arc<Node>>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<Job>> {
    let (record, progress) = find(&node, &id)?;
    Ok(Json(job_json(&record, progress)))
}

/// `POST /api/jobs/{id}/cancel`: by the requester or an owner.
pub async fn cancel(
    State(node): State<Arc<Node>>,
    UrlPath(id): UrlPath<String>,
    request: Request,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let (parts, _) = request.into_parts();
    let caller = auth::authenticate(&node, &parts, false)?;
    let (record, _) = find(&node, &id)?;
    let who = caller.id();
    if record.requester != who && !node.is_owner(&who) {
        let why =
            format!("only the job's requester or a node owner may cancel job {id} (you are {who})");
        auth::deny(&node, &who, &parts, &why);
        return Err(ApiError::forbidden(why));
    }
    let node2 = node.clone();
    tokio::task::spawn_blocking(move || {
        let mut ev = Event::now(&who, Operation::Cancel, &record.algorithm);
        ev.job = Some(id.clone());
        match node2.queue.cancel(&id).map_err(queue_error)? {
            Some(queued) => {
                ev.detail = Some("cancelled while queued".into());
                node2.audit(vec![ev]);
                node2.end_unrun(
                    queued,
                    poex_core::outcome::EndStatus::Cancelled,
                    &format!("cancelled by {who} before it ran"),
                );
            }
            None => {
                ev.detail = Some("cancelled while running; the sandbox is stopped".into());
                node2.audit(vec![ev]);
            }
        }
        let (record, progress) = find(&node2, &id)?;
        Ok((StatusCode::ACCEPTED, Json(job_json(&record, progress))))
    })
    .await
    .map_err(ApiError::internal)?
}

fn job_file(node: &Node, id: &str, name: &str) -> ApiResult<Vec<u8>> {
    let (record, _) = find(node, id)?;
    let path = node.home.jobs_dir().join(id).join(name);
    match std::fs::read(&path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ApiError::not_found(format!(
            "job {id} has no {name} yet (it is {})",
            record.state.name()
        ))),
        Err(e) => Err(ApiError::internal(e)),
    }
}

fn json_response(bytes: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

/// `GET /api/jobs/{id}/receipt`.
pub async fn receipt(
    State(node): State<Arc<Node>>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Response> {
    Ok(json_response(job_file(&node, &id, "receipt.json")?))
}

/// `GET /api/jobs/{id}/bundle`.
pub async fn bundle(
    State(node): State<Arc<Node>>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Response> {
    Ok(json_response(job_file(
        &node,
        &id,
        poex_exec::pipeline::BUNDLE_NAME,
    )?))
}

/// The requester only; a refusal is a logged denial.
fn requester_only(
    node: &Node,
    parts: &axum::http::request::Parts,
    id: &str,
) -> ApiResult<(Caller, JobRecord)> {
    let caller = auth::authenticate(node, parts, false)?;
    let (record, _) = find(node, id)?;
    if record.requester != caller.id() {
        let why = format!(
            "only the requester of job {id} may download its results and log (you are {})",
            caller.id()
        );
        auth::deny(node, &caller.id(), parts, &why);
        return Err(ApiError::forbidden(why));
    }
    Ok((caller, record))
}

/// The result subjects of a job's receipt: `(name, sha256)`.
fn subjects(node: &Node, id: &str) -> ApiResult<Vec<(String, String)>> {
    let bytes = job_file(node, id, "receipt.json")?;
    let envelope: Envelope = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
    let statement =
        receipt::open(&envelope, &node.processor_public()).map_err(ApiError::internal)?;
    Ok(statement
        .subject
        .iter()
        .filter_map(|s| {
            let name = s.name.clone().filter(|n| !n.starts_with("poex:"))?;
            // A result sealed to the requester is on disk, and served, only as its sealed
            // file, which the receipt names with its own digest (docs/seal.md).
            if let Some(sealed) = s.annotations.get("sealed") {
                let name = sealed.get("name")?.as_str()?.to_owned();
                let sha = sealed.get("sha256")?.as_str()?;
                return Some((name, format!("sha256:{sha}")));
            }
            let sha = s.digest.get("sha256").map(|h| format!("sha256:{h}"))?;
            Some((name, sha))
        })
        .collect())
}

/// `GET /api/jobs/{id}/results`: the attested result files.
pub async fn results(
    State(node): State<Arc<Node>>,
    UrlPath(id): UrlPath<String>,
    request: Request,
) -> ApiResult<Json<ResultList>> {
    let (parts, _) = request.into_parts();
    let (_caller, record) = requester_only(&node, &parts, &id)?;
    let files = subjects(&node, &id)?
        .into_iter()
        .map(|(name, sha256)| ResultFile {
            href: format!("/api/jobs/{id}/results/{name}"),
            name,
            sha256,
        })
        .collect();
    Ok(Json(ResultList {
        job: id,
        state: record.state,
        files,
    }))
}

/// A safe relative path inside the results folder. Anything else names no attested result:
/// 404, as for any other name the receipt does not list.
fn result_path(id: &str, rel: &str) -> ApiResult<PathBuf> {
    let mut out = PathBuf::new();
    for c in std::path::Path::new(rel).components() {
        match c {
            Component::Normal(n) => out.push(n),
            _ => {
                return Err(ApiError::not_found(format!(
                    "job {id} has no attested result {rel:?}: that is not a path inside its results"
                )));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(ApiError::not_found("name a result file"));
    }
    Ok(out)
}

/// `GET /api/jobs/{id}/results/{path}`: one attested result file; logged.
pub async fn result_file(
    State(node): State<Arc<Node>>,
    UrlPath((id, rel)): UrlPath<(String, String)>,
    request: Request,
) -> ApiResult<Response> {
    let (parts, _) = request.into_parts();
    let (caller, _) = requester_only(&node, &parts, &id)?;
    let rel_path = result_path(&id, &rel)?;
    // Only attested files are served: the name must be a subject of the receipt.
    let subjects = subjects(&node, &id)?;
    let wanted = rel_path.to_string_lossy().into_owned();
    let sha = subjects
        .iter()
        .find(|(n, _)| *n == wanted)
        .map(|(_, s)| s.clone())
        .ok_or_else(|| {
            ApiError::not_found(format!("job {id} has no attested result {wanted:?}"))
        })?;
    let path = node
        .home
        .jobs_dir()
        .join(&id)
        .join("results")
        .join(&rel_path);
    let meta = std::fs::symlink_metadata(&path)
        .map_err(|_| ApiError::not_found(format!("result {wanted:?} is gone from the node")))?;
    if !meta.is_file() {
        return Err(ApiError::not_found(format!(
            "result {wanted:?} is not a regular file"
        )));
    }
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(ApiError::internal)?;
    let length = meta.len();
    let mut ev = Event::now(caller.id(), Operation::DownloadResult, &wanted);
    ev.job = Some(id.clone());
    ev.digest = sha.parse().ok();
    // No download without its audit event.
    node.audit_or_fail(vec![ev]).map_err(unlogged)?;
    // Streamed in 64 KiB reads: a large result never sits whole in the node's memory.
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = vec![0u8; 64 << 10];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                header::CONTENT_LENGTH,
                HeaderValue::from_str(&length.to_string()).map_err(ApiError::internal)?,
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// A download refused because its audit event could not be logged.
fn unlogged(e: poex_ledger::LedgerError) -> ApiError {
    tracing::error!(error = %e, "a download's audit event could not be logged; refused");
    ApiError::unavailable(
        "the node cannot record this download in its audit trail right now, so it does not serve it; retry in a few seconds",
    )
    .retry_after(5)
}

/// `GET /api/jobs/{id}/log`: the execution log the receipt attests; logged. A job sealed to
/// its requester has only `execution.log.sealed` (docs/seal.md): that is served instead, as
/// `application/octet-stream`, and the `Content-Disposition` file name says which it is. A
/// job whose receipt attests no log (refused, cancelled or expired before it ran, or cut off
/// by a node that stopped: whatever its folder holds of a run that did not end is not
/// attested) has none to serve: 404.
pub async fn execution_log(
    State(node): State<Arc<Node>>,
    UrlPath(id): UrlPath<String>,
    request: Request,
) -> ApiResult<Response> {
    let (parts, _) = request.into_parts();
    let (caller, record) = requester_only(&node, &parts, &id)?;
    let bytes = job_file(&node, &id, "receipt.json")?;
    let envelope: Envelope = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
    let statement =
        receipt::open(&envelope, &node.processor_public()).map_err(ApiError::internal)?;
    let Some(attested) = poex_verify::checks::execution_log(&statement) else {
        return Err(ApiError::not_found(format!(
            "job {id}'s receipt attests no execution log (it ended {} without a completed run); \
             what its folder may hold of a run that did not end is not attested, and not served",
            record.state.name()
        )));
    };
    let sealed = attested.annotations.get("sealed").and_then(|s| {
        Some((
            s.get("name")?.as_str()?.to_owned(),
            s.get("sha256")?.as_str()?.to_owned(),
        ))
    });
    let (name, want, media) = match &sealed {
        Some((name, sha)) => (name.clone(), Some(sha.clone()), "application/octet-stream"),
        None => (
            receipt::LOG_NAME.to_owned(),
            attested.digest.get("sha256").cloned(),
            "text/plain; charset=utf-8",
        ),
    };
    let bytes = job_file(&node, &id, &name)?;
    let got = hex::encode(sha2::Sha256::digest(&bytes));
    if want.as_deref() != Some(got.as_str()) {
        return Err(ApiError::internal(format!(
            "job {id}: {name} on disk has sha256 {got}, its receipt says {want:?}"
        )));
    }
    let mut ev = Event::now(caller.id(), Operation::DownloadLog, &name);
    ev.job = Some(id.clone());
    node.audit_or_fail(vec![ev]).map_err(unlogged)?;
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(media)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}
