//! The node's endpoints as methods: one per call, typed in and out (docs/node.md lists them).
//! Calls that change something, and downloads of what only a requester may read, take the
//! key that signs them; the node never sees a private key.

use poex_core::asset::{AssetKind, Record};
use poex_core::dsse::Envelope;
use poex_core::keys::SecretKey;

use crate::client::{Client, Download, Error, Result, Upload, encode_path};
use crate::wire::{
    AssetList, AuditPage, Health, Info, Job, JobPage, Publish, ResultList, Stored, Verdict,
    VerifyRequest,
};

impl Client {
    /// `GET /healthz`.
    pub fn health(&self) -> Result<Health> {
        self.get("/healthz", None)
    }

    /// `GET /api/info`: the node's keys, log and limits.
    pub fn info(&self) -> Result<Info> {
        self.get("/api/info", None)
    }

    /// `GET /api/assets/{kind}/{name}`: the node's record of `name`, if it has one.
    pub fn asset(&self, kind: AssetKind, name: &str) -> Result<Option<Record>> {
        self.get_opt(&format!("/api/assets/{kind}/{}", encode_path(name)), None)
    }

    /// `GET /api/assets[?kind=]`.
    pub fn assets(&self, kind: Option<AssetKind>) -> Result<Vec<Record>> {
        let q = kind.map(|k| format!("?kind={k}")).unwrap_or_default();
        Ok(self
            .get::<AssetList>(&format!("/api/assets{q}"), None)?
            .assets)
    }

    /// `POST /api/objects`: stores a file (`application/octet-stream`) or a folder
    /// (`application/x-tar`) in the node's object store.
    pub fn upload(&self, body: Upload<'_>, key: &SecretKey) -> Result<Stored> {
        Ok(self.post("/api/objects", Some(body), Some(key))?.1)
    }

    /// `POST /api/assets`: publishes a record; `true` when it is new (201), `false` when the
    /// node already had the same one (200).
    pub fn publish(&self, body: &Publish, key: &SecretKey) -> Result<(bool, Record)> {
        let (status, record) = self.post("/api/assets", Some(Upload::json(body)), Some(key))?;
        Ok((status == 201, record))
    }

    /// `POST /api/jobs`: submits a signed job request.
    pub fn submit(&self, request: &Envelope, key: &SecretKey) -> Result<Job> {
        Ok(self
            .post("/api/jobs", Some(Upload::json(request)), Some(key))?
            .1)
    }

    /// `GET /api/jobs/{id}`.
    pub fn job(&self, id: &str) -> Result<Job> {
        self.get(&format!("/api/jobs/{}", encode_path(id)), None)
    }

    /// `GET /api/jobs{query}`: a page of jobs (`query` from [`crate::query`]).
    pub fn jobs(&self, query: &str) -> Result<JobPage> {
        self.get(&format!("/api/jobs{query}"), None)
    }

    /// `POST /api/jobs/{id}/cancel`.
    pub fn cancel(&self, id: &str, key: &SecretKey) -> Result<Job> {
        Ok(self
            .post(
                &format!("/api/jobs/{}/cancel", encode_path(id)),
                None,
                Some(key),
            )?
            .1)
    }

    /// `GET /api/jobs/{id}/receipt` or `/bundle` (`part`), verbatim; `None` when the job has
    /// none yet.
    pub fn job_part(&self, id: &str, part: &str) -> Result<Option<Download>> {
        let path = format!("/api/jobs/{}/{part}", encode_path(id));
        match self.download("GET", &path, None, None) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /api/jobs/{id}/results`: the attested result files (the requester only).
    pub fn results(&self, id: &str, key: &SecretKey) -> Result<ResultList> {
        self.get(&format!("/api/jobs/{}/results", encode_path(id)), Some(key))
    }

    /// `GET /api/jobs/{id}/results/{name}`: one result's bytes (the requester only).
    pub fn result(&self, id: &str, name: &str, key: &SecretKey) -> Result<Download> {
        let path = format!(
            "/api/jobs/{}/results/{}",
            encode_path(id),
            encode_path(name)
        );
        self.download("GET", &path, None, Some(key))
    }

    /// `GET /api/jobs/{id}/log`: the execution log (the requester only); `None` when there is
    /// none. A job sealed to its requester has only its sealed log: the file name says so.
    pub fn execution_log(&self, id: &str, key: &SecretKey) -> Result<Option<Download>> {
        let path = format!("/api/jobs/{}/log", encode_path(id));
        match self.download("GET", &path, None, Some(key)) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /api/audit{query}`: a page of audit events.
    pub fn audit(&self, query: &str) -> Result<AuditPage> {
        self.get(&format!("/api/audit{query}"), None)
    }

    /// `POST /api/verify`: what the node finds of a bundle, against its own keys.
    pub fn verify(&self, request: &VerifyRequest) -> Result<Verdict> {
        Ok(self
            .post("/api/verify", Some(Upload::json(request)), None)?
            .1)
    }

    /// `POST /api/por/{kind}/{name}`: a proof-of-retrievability challenge (JSON); the node's
    /// binary answer.
    pub fn por(
        &self,
        kind: AssetKind,
        name: &str,
        challenge: &impl serde::Serialize,
        key: &SecretKey,
    ) -> Result<Vec<u8>> {
        use std::io::Read as _;
        let path = format!("/api/por/{kind}/{}", encode_path(name));
        let d = self.download("POST", &path, Some(Upload::json(challenge)), Some(key))?;
        let mut bytes = Vec::new();
        d.reader
            .take(crate::client::MAX_JSON + 1)
            .read_to_end(&mut bytes)
            .map_err(|cause| Error::Read {
                request: format!("POST {path}"),
                cause,
            })?;
        if bytes.len() as u64 > crate::client::MAX_JSON {
            return Err(Error::TooLarge {
                request: format!("POST {path}"),
                limit: crate::client::MAX_JSON,
            });
        }
        Ok(bytes)
    }
}
