//! `poex init` and `poex key ...`.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::Done;
use crate::args::KeyCommand;
use crate::home::{DEFAULT_KEY, Home, LOG_KEY, PROCESSOR_KEY};

pub fn init(root: &Path, quiet: bool) -> Result<Done> {
    let (home, created) = Home::init(root)?;
    let ledger = home.ledger()?;
    if !quiet {
        let verb = if created {
            "initialized"
        } else {
            "already initialized"
        };
        outln!("poex home {verb}: {}", home.root.display());
        for name in [PROCESSOR_KEY, LOG_KEY, DEFAULT_KEY] {
            let key = home.keys.public(name)?;
            outln!("  key {name:<10} {}", key.key_id());
        }
        outln!("  store      {}", home.root.join("store").display());
        outln!(
            "  log        {} ({} entries)",
            ledger.tiles_dir().display(),
            ledger.size()
        );
        outln!("  log key    {}", ledger.verifier_key());
    }
    Ok(Done(0))
}

pub fn key(root: &Path, command: KeyCommand) -> Result<Done> {
    let home = Home::open(root)?;
    match command {
        KeyCommand::New { name } => {
            let key = home.keys.create(&name)?;
            outln!("created key {name} {}", key.key_id());
            outln!(
                "  private key {} (mode 0600)",
                home.keys.secret_path(&name)?.display()
            );
        }
        KeyCommand::List { json } => {
            for (name, key) in home.keys.list()? {
                if json {
                    outln!(
                        "{}",
                        json!({"name": name, "keyId": key.key_id(), "publicKey": key.to_base64()})
                    );
                } else {
                    outln!("{name:<16} {}", key.key_id());
                }
            }
        }
        KeyCommand::Show { name, pem } => {
            let key = home.keys.public(&name)?;
            if pem {
                out!("{}", key.to_spki_pem());
            } else {
                outln!("name        {name}");
                outln!("key id      {}", key.key_id());
                outln!("algorithm   Ed25519");
                outln!("public key  {}", key.to_base64());
            }
        }
    }
    Ok(Done(0))
}
