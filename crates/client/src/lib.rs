//! poex-client: talking to a `poex node`. The HTTP API's [`wire`] types (the node serializes
//! them, clients read them), a blocking [`Client`] whose requests are signed with RFC 9421 HTTP
//! Message Signatures by the caller's Ed25519 key ([`sign`]), one method per endpoint
//! ([`api`]), and [`log`], the reader of a published tlog-tiles log from a directory or a URL.
//!
//! | module | what it gives |
//! |---|---|
//! | [`wire`] | [`wire::Job`], [`wire::Info`], [`wire::Verdict`], [`wire::Publish`], ...: every body the API sends or takes |
//! | [`client`] | [`Client`] (address, agent, signed requests, answers read within limits), [`Error`] and the node's [`HttpError`] |
//! | [`sign`] | [`sign::sign_request`]: the headers that sign a request as a node checks it |
//! | [`api`] | the endpoints as methods on [`Client`] |
//! | [`log`] | [`log::LogSource`]: a log's checkpoint, tiles and entries from a directory or `http://` |
//!
//! Who uses it: the CLI's `--node` commands, the node's tests and load bench, and a node that
//! calls another node. The node's side of the signature (checking it, replay, audit of
//! refusals) is `poex_node::auth`.
//!
//! What it does **not** do: TLS (nodes are reached over loopback or a tunnel; `https://` is
//! refused with a message saying so), async, retries, or trusting anything it reads: receipts
//! and bundles are checked with `poex-verify`, checkpoints with a key the caller trusts. It
//! never holds a private key beyond the call that signs with it.
#![forbid(unsafe_code)]

pub mod api;
pub mod client;
pub mod log;
pub mod sign;
pub mod wire;

pub use client::{
    Client, Download, Error, HttpError, Result, Upload, encode_path, encode_query, query,
};
