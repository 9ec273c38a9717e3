//! The commands with `--node URL`: the same commands, done by a node over HTTP.
//!
//! Your key stays here: requests that change something, and downloads of results, are
//! signed with it (RFC 9421, see [`crate::remote`]); job requests are built and signed here
//! exactly as a local `poex run` builds them. The node never sees a private key.

mod audit;
mod jobs;
mod publish;
mod verify;

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use poex_core::keys::SecretKey;
use poex_store::keystore;
use poex_store::registry::{AssetKind, Record};

use crate::Done;
use crate::args::{AuditArgs, Command};
use crate::home::Home;
use crate::remote::{Client, encode_path};

/// Runs `command` against the node at `url`.
pub fn dispatch(root: &Path, url: &str, command: Command, quiet: bool) -> Result<Done> {
    let no_remote = |what: &str, instead: &str| -> Result<Done> {
        bail!(
            "poex {what} has no --node variant: {instead}; drop --node (or unset POEX_NODE) to run it here"
        )
    };
    match command {
        // Your keys are always local: they are what signs the requests.
        Command::Init => super::keys::init(root, quiet),
        Command::Key(k) => super::keys::key(root, k),
        Command::Seal(s) => super::seal::dispatch(root, s, quiet),
        Command::Grants(g) => super::grant::dispatch(root, g, quiet),
        // A node serves a local home; POEX_NODE (where to talk to) does not apply.
        Command::Node(a) => super::node::node(root, a, quiet),
        Command::Publish(p) => publish::publish(&Client::new(url)?, root, p, quiet),
        Command::Show { name, json } => show(&Client::new(url)?, &name, json),
        Command::Run(a) => jobs::run(&Client::new(url)?, root, a, quiet),
        Command::Status(a) => jobs::status(&Client::new(url)?, root, a),
        Command::Cancel { job, as_key } => {
            jobs::cancel(&Client::new(url)?, root, &job, &as_key, quiet)
        }
        Command::Fetch { job, out, as_key } => {
            jobs::fetch(&Client::new(url)?, root, &job, out, &as_key, quiet)
        }
        Command::Verify(a) => verify::verify(&Client::new(url)?, root, a, quiet),
        Command::Audit(AuditArgs {
            command: Some(_), ..
        }) => no_remote(
            "audit validate",
            "it walks the log files of a local home; to check a node's log from here, \
             `poex --node URL verify BUNDLE` checks a bundle's consistency with it",
        ),
        Command::Audit(a) => audit::audit(&Client::new(url)?, a),
        Command::Exec(_) => no_remote(
            "exec",
            "it wraps a command on this machine; publish the code and run it on the node with \
             `poex --node URL publish algorithm` and `poex --node URL run`",
        ),
        Command::Log(_) => no_remote(
            "log",
            "it reads a local home's log; a node serves its log as tlog-tiles at URL/log/ \
             (`poex verify BUNDLE --log URL/log`)",
        ),
        Command::Por(p) => super::por::por(root, Some(url), p, quiet),
        Command::Demo => no_remote("demo", "it runs on a local home"),
        // The chain settings and key are this home's.
        Command::Chain(c) => super::chain::chain(root, c, quiet),
        Command::Anchor(_) => no_remote(
            "anchor",
            "it anchors a local home's log; run it where the node's home is (poex --home NODE_HOME anchor)",
        ),
    }
}

/// The key requests are signed with: `--as NAME` (a key of this home) or `--as FILE.pem`.
pub fn identity(root: &Path, as_key: &str) -> Result<SecretKey> {
    if as_key.contains('/') {
        return keystore::load_secret_file(Path::new(as_key))
            .with_context(|| format!("--as {as_key}"));
    }
    let home = Home::open(root).with_context(|| {
        format!(
            "requests to a node are signed with your key (--as {as_key}); create one with \
             `poex init`, or pass --as KEY.pem"
        )
    })?;
    Ok(home.secret(as_key)?)
}

/// A key id: 64 hex digits, or a local key's id by name.
pub fn key_id(root: &Path, text: &str) -> Result<String> {
    if let Ok(id) = text.parse::<poex_core::KeyId>() {
        return Ok(id.to_string());
    }
    let home =
        Home::open(root).with_context(|| format!("{text:?} is not a key id (64 hex digits)"))?;
    Ok(home.key_id(text)?)
}

/// The node's record of `name`, if it has one.
pub fn record(client: &Client, kind: AssetKind, name: &str) -> Result<Option<Record>> {
    let path = format!("/api/assets/{kind}/{}", encode_path(name));
    client
        .get_json_opt(&path)?
        .map(|v| {
            serde_json::from_value(v).with_context(|| {
                format!("the node's answer to GET {path} is not a registry record")
            })
        })
        .transpose()
}

/// `poex --node URL show NAME`.
fn show(client: &Client, name: &str, json: bool) -> Result<Done> {
    poex_store::registry::Name::new(name)?;
    let mut found = Vec::new();
    for kind in [AssetKind::Dataset, AssetKind::Algorithm] {
        if let Some(r) = record(client, kind, name)? {
            found.push(r);
        }
    }
    if found.is_empty() {
        bail!(
            "nothing named {name:?} is published on the node at {} (poex --node URL publish \
             dataset|algorithm PATH --name {name})",
            client.base
        );
    }
    for r in found {
        super::publish::print_record(&r, json)?;
    }
    Ok(Done(0))
}
