//! `poex node`: serve the home as a compute-to-data node (crates/node, docs/node.md).
//!
//! Settings: flags > `POEX_NODE_*` environment > `--config FILE` (or `HOME/node.toml`) >
//! embedded defaults. A home without keys is initialized first, as `poex init` does, so a
//! node starts on a fresh machine with nothing but defaults.

use std::path::Path;

use anyhow::{Context as _, Result};

use crate::Done;
use crate::args::NodeArgs;
use crate::home::{Home, PROCESSOR_KEY};

pub fn node(root: &Path, args: NodeArgs, quiet: bool) -> Result<Done> {
    let mut config =
        poex_node::Config::load(root, args.config.as_deref(), |k| std::env::var(k).ok())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(n) = args.max_concurrent_jobs {
        config.max_concurrent_jobs = n;
    }
    if let Some(n) = args.max_upload_bytes {
        config.max_upload_bytes = n;
    }
    if let Some(n) = args.anchor_interval_secs {
        config.anchor_interval_secs = n;
    }
    config.check()?;

    if !root
        .join("keys")
        .join(format!("{PROCESSOR_KEY}.key"))
        .exists()
    {
        let (home, _) = Home::init(root)?;
        // Create the log now, and let go of its lock before the node takes it.
        drop(home.ledger()?);
        if !quiet {
            eprintln!(
                "poex: initialized a new home at {} (processor, log and default keys)",
                root.display()
            );
        }
    } else {
        // Keys a node needs that an older home may lack; never replaces one.
        Home::init(root)?;
    }

    poex_node::init_tracing(args.log_json);
    let node = poex_node::Node::open(root, config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("poex-node")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(poex_node::serve(
        node,
        poex_node::shutdown_signal(),
        |addr| eprintln!("poex node listening on http://{addr}"),
    ))?;
    Ok(Done(0))
}
