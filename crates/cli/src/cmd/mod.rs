//! One module per command group; `dispatch` wires them to the parsed arguments.

mod audit;
#[cfg(feature = "chain")]
pub(crate) mod chain;
#[cfg(not(feature = "chain"))]
#[path = "chain_off.rs"]
pub(crate) mod chain;
mod chain_common;
mod demo;
#[cfg(feature = "grants")]
pub(crate) mod grant;
#[cfg(not(feature = "grants"))]
#[path = "grant_off.rs"]
pub(crate) mod grant;
mod keys;
mod log;
mod node;
pub mod por;
mod publish;
mod run;
pub(crate) mod seal;
mod verify;

use std::path::Path;

use anyhow::{Result, bail};
use poex_client::Client;

use crate::Done;
use crate::args::{AuditArgs, Cli, Command};
use crate::home;

/// Where a command acts: this home, or the node at `--node URL` (`POEX_NODE`). Your keys are
/// always this home's: they sign the requests a node receives, and never leave.
pub enum Target {
    /// The local home.
    Home,
    /// A node, over HTTP.
    Node(String),
}

impl Target {
    /// The node's URL, if the target is a node.
    fn url(&self) -> Option<&str> {
        match self {
            Target::Home => None,
            Target::Node(url) => Some(url),
        }
    }

    /// The node's client, if the target is a node.
    fn client(&self) -> Result<Option<Client>> {
        match self {
            Target::Home => Ok(None),
            Target::Node(url) => Ok(Some(Client::new(url)?)),
        }
    }
}

pub fn dispatch(cli: Cli) -> Result<Done> {
    let root = home::resolve(cli.home.as_deref())?;
    let quiet = cli.quiet;
    let target = match cli.node.as_deref().map(str::trim) {
        Some(url) if !url.is_empty() => Target::Node(url.to_owned()),
        _ => Target::Home,
    };
    run(&root, &target, cli.command, quiet)
}

/// Runs `command` on `target`: one match, each command saying what it does on a node.
fn run(root: &Path, target: &Target, command: Command, quiet: bool) -> Result<Done> {
    let needs_node = |what: &str| -> Result<Done> {
        bail!(
            "poex {what} talks to a node: pass --node URL (or set POEX_NODE), e.g. --node http://127.0.0.1:8420"
        )
    };
    let no_node = |what: &str, instead: &str| -> Result<Done> {
        bail!(
            "poex {what} has no --node variant: {instead}; drop --node (or unset POEX_NODE) to run it here"
        )
    };
    let node = target.client()?;
    match (command, node) {
        // Your keys are always local: they are what signs the requests.
        (Command::Init, _) => keys::init(root, quiet),
        (Command::Key(k), _) => keys::key(root, k),
        (Command::Seal(s), _) => seal::dispatch(root, s, quiet),
        (Command::Grants(g), _) => grant::dispatch(root, g, quiet),
        // A node serves a local home; POEX_NODE (where to talk to) does not apply.
        (Command::Node(a), _) => node::node(root, a, quiet),
        // The chain settings and key are this home's.
        (Command::Chain(c), _) => chain::chain(root, c, quiet),
        (Command::Publish(p), None) => publish::publish(root, p, quiet),
        (Command::Publish(p), Some(c)) => publish::node::publish(&c, root, p, quiet),
        (Command::Show { name, json }, None) => publish::show(root, &name, json),
        (Command::Show { name, json }, Some(c)) => publish::node::show(&c, &name, json),
        (Command::Run(a), None) if a.no_wait => needs_node("run --no-wait"),
        (Command::Run(a), None) => run::run(root, a, quiet),
        (Command::Run(a), Some(c)) => run::node::run(&c, root, a, quiet),
        (Command::Status(_), None) => needs_node("status"),
        (Command::Status(a), Some(c)) => run::node::status(&c, root, a),
        (Command::Cancel { .. }, None) => needs_node("cancel"),
        (Command::Cancel { job, as_key }, Some(c)) => {
            run::node::cancel(&c, root, &job, &as_key, quiet)
        }
        (Command::Fetch { .. }, None) => needs_node("fetch"),
        (Command::Fetch { job, out, as_key }, Some(c)) => {
            run::node::fetch(&c, root, &job, out, &as_key, quiet)
        }
        (Command::Verify(a), None) if a.ask_node => needs_node("verify --ask-node"),
        (Command::Verify(a), None) => verify::verify(root, a, quiet),
        (Command::Verify(a), Some(c)) => verify::node::verify(&c, root, a, quiet),
        (Command::Audit(a), None) => audit::audit(root, a),
        (
            Command::Audit(AuditArgs {
                command: Some(_), ..
            }),
            Some(_),
        ) => no_node(
            "audit validate",
            "it walks the log files of a local home; to check a node's log from here, \
             `poex --node URL verify BUNDLE` checks a bundle's consistency with it",
        ),
        (Command::Audit(a), Some(c)) => audit::node::audit(&c, a),
        (Command::Por(p), _) => por::por(root, target.url(), p, quiet),
        (Command::Exec(a), None) => run::exec(root, a, quiet),
        (Command::Exec(_), Some(_)) => no_node(
            "exec",
            "it wraps a command on this machine; publish the code and run it on the node with \
             `poex --node URL publish algorithm` and `poex --node URL run`",
        ),
        (Command::Log(l), None) => log::log(root, l),
        (Command::Log(_), Some(_)) => no_node(
            "log",
            "it reads a local home's log; a node serves its log as tlog-tiles at URL/log/ \
             (`poex verify BUNDLE --log URL/log`)",
        ),
        (Command::Demo, None) => demo::demo(root, quiet),
        (Command::Demo, Some(_)) => no_node("demo", "it runs on a local home"),
        (Command::Anchor(a), None) => chain::anchor(root, a, quiet),
        (Command::Anchor(_), Some(_)) => no_node(
            "anchor",
            "it anchors a local home's log; run it where the node's home is (poex --home NODE_HOME anchor)",
        ),
    }
}
