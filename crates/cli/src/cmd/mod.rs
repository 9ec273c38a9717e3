//! One module per command group; `dispatch` wires them to the parsed arguments.

mod audit;
mod demo;
mod keys;
mod log;
mod publish;
mod run;
mod verify;

use anyhow::Result;

use crate::Done;
use crate::args::{Cli, Command};
use crate::home;

pub fn dispatch(cli: Cli) -> Result<Done> {
    let root = home::resolve(cli.home.as_deref())?;
    let quiet = cli.quiet;
    match cli.command {
        Command::Init => keys::init(&root, quiet),
        Command::Key(k) => keys::key(&root, k),
        Command::Publish(p) => publish::publish(&root, p, quiet),
        Command::Show { name, json } => publish::show(&root, &name, json),
        Command::Run(a) => run::run(&root, a, quiet),
        Command::Exec(a) => run::exec(&root, a, quiet),
        Command::Verify(a) => verify::verify(&root, a, quiet),
        Command::Audit(a) => audit::audit(&root, a),
        Command::Log(l) => log::log(&root, l),
        Command::Demo => demo::demo(&root, quiet),
    }
}
