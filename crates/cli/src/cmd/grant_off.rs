//! `poex grant`, `reencrypt` and `validate-log` in a build without the `grants` feature: the
//! commands exist (hidden from `--help`) only to say how to get them, instead of clap's
//! "unrecognized subcommand".

use std::ffi::OsString;
use std::path::Path;

use anyhow::{Result, bail};
use clap::Subcommand;

use crate::Done;

/// The three grant commands, each taking anything, so that their one answer is the same.
#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    #[command(hide = true, disable_help_flag = true)]
    Grant {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    #[command(hide = true, disable_help_flag = true)]
    Reencrypt {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    #[command(hide = true, disable_help_flag = true)]
    ValidateLog {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

pub fn dispatch(_root: &Path, command: GrantCommand, _quiet: bool) -> Result<Done> {
    let name = match command {
        GrantCommand::Grant { .. } => "grant",
        GrantCommand::Reencrypt { .. } => "reencrypt",
        GrantCommand::ValidateLog { .. } => "validate-log",
    };
    bail!(
        "poex {name} is part of validator grants, which this poex was built without: build it \
         with `cargo install --path crates/cli --features grants` (grants link Umbral, which is \
         GPL-3.0-only, so that binary is GPL-3.0-only: README.md, Licence; docs/grants.md)"
    )
}
