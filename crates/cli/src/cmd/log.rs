//! `poex log`: inspect the transparency log.

use std::path::Path;

use anyhow::{Result, bail};

use crate::Done;
use crate::args::LogCommand;

pub fn log(_root: &Path, _command: LogCommand) -> Result<Done> {
    bail!("poex log: not implemented yet")
}
