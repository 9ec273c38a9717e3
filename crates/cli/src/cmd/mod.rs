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
mod remote;
mod run;
pub(crate) mod seal;
mod verify;

use anyhow::{Result, bail};

use crate::Done;
use crate::args::{Cli, Command};
use crate::home;

pub fn dispatch(cli: Cli) -> Result<Done> {
    let root = home::resolve(cli.home.as_deref())?;
    let quiet = cli.quiet;
    if let Some(url) = cli.node.as_deref().filter(|u| !u.trim().is_empty()) {
        return remote::dispatch(&root, url, cli.command, quiet);
    }
    let needs_node = |what: &str| -> Result<Done> {
        bail!(
            "poex {what} talks to a node: pass --node URL (or set POEX_NODE), e.g. --node http://127.0.0.1:8420"
        )
    };
    match cli.command {
        Command::Init => keys::init(&root, quiet),
        Command::Key(k) => keys::key(&root, k),
        Command::Seal(s) => seal::dispatch(&root, s, quiet),
        Command::Publish(p) => publish::publish(&root, p, quiet),
        Command::Show { name, json } => publish::show(&root, &name, json),
        Command::Run(a) if a.no_wait => needs_node("run --no-wait"),
        Command::Run(a) => run::run(&root, a, quiet),
        Command::Exec(a) => run::exec(&root, a, quiet),
        Command::Verify(a) if a.ask_node => needs_node("verify --ask-node"),
        Command::Verify(a) => verify::verify(&root, a, quiet),
        Command::Grants(g) => grant::dispatch(&root, g, quiet),
        Command::Audit(a) => audit::audit(&root, a),
        Command::Log(l) => log::log(&root, l),
        Command::Por(p) => por::por(&root, None, p, quiet),
        Command::Demo => demo::demo(&root, quiet),
        Command::Node(a) => node::node(&root, a, quiet),
        Command::Status(_) => needs_node("status"),
        Command::Cancel { .. } => needs_node("cancel"),
        Command::Fetch { .. } => needs_node("fetch"),
        Command::Chain(c) => chain::chain(&root, c, quiet),
        Command::Anchor(a) => chain::anchor(&root, a, quiet),
    }
}
