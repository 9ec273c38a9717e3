//! `poex demo`: the main job on the embedded defaults, start to finish.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::Done;
use crate::args::{LimitArgs, PublishCommand, RunArgs, VerifyArgs};
use crate::home::{DEFAULT_KEY, Home};

/// The sample algorithm, shipped inside the binary.
const STATS_PY: &str = include_str!("../../demo/stats.py");
const DATASET: &str = "demo-cohort";
const ALGORITHM: &str = "demo-stats";

/// A deterministic sample cohort: 1,000 rows of made-up clinical measurements.
fn sample_csv() -> String {
    let mut s = String::from("id,age,bmi,systolic\n");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |m: u64| {
        // xorshift64: deterministic, good enough for sample data.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    for id in 1..=1000 {
        let age = 18 + next(70);
        let bmi = 180 + next(170);
        let sys = 95 + next(70);
        let _ = writeln!(s, "{id},{age},{}.{},{sys}", bmi / 10, bmi % 10);
    }
    s
}

pub fn demo(root: &Path, quiet: bool) -> Result<Done> {
    let (home, _) = Home::init(root)?;
    let say = |msg: &str| -> Result<()> {
        if !quiet {
            outln!("{msg}");
        }
        Ok(())
    };
    say(&format!("poex demo — home {}", home.root.display()))?;

    // 1. The data owner's dataset and the researcher's algorithm, as plain files.
    let src = home.root.join("demo-src");
    let data_dir = src.join("cohort");
    let alg_dir = src.join("stats");
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    std::fs::create_dir_all(&alg_dir).with_context(|| format!("creating {}", alg_dir.display()))?;
    std::fs::write(data_dir.join("cohort.csv"), sample_csv())?;
    std::fs::write(alg_dir.join("stats.py"), STATS_PY)?;
    drop(home);

    say("\n1. publish the algorithm and the dataset (write-once registry)")?;
    super::publish::publish(
        root,
        PublishCommand::Algorithm {
            path: alg_dir,
            name: ALGORITHM.into(),
            entrypoint: "python3 stats.py".into(),
            as_key: DEFAULT_KEY.into(),
            chain: Default::default(),
        },
        quiet,
    )?;
    super::publish::publish(
        root,
        PublishCommand::Dataset {
            path: data_dir,
            name: DATASET.into(),
            allow: vec![ALGORITHM.into()],
            allow_requester: vec![],
            seal_at_rest: false,
            as_key: DEFAULT_KEY.into(),
            chain: Default::default(),
        },
        quiet,
    )?;

    say("\n2. run it in the sandbox: verify hashes and policy, run, sign the receipt")?;
    let home = Home::open(root)?;
    let out = home
        .jobs_dir()
        .join(format!("demo-{}", poex_core::request::random_hex16()?));
    drop(home);
    let done = super::run::run(
        root,
        RunArgs {
            algorithm: ALGORITHM.into(),
            datasets: vec![DATASET.into()],
            as_key: DEFAULT_KEY.into(),
            recipient: None,
            out: Some(out.clone()),
            limits: LimitArgs::default(),
            json: false,
            no_wait: false,
            require_chain: false,
            no_chain_check: false,
            rpc: None,
            chain: false,
            requester_chain_key: None,
            match_within: None,
            result_within: None,
            args: vec![],
        },
        quiet,
    )?;
    if done.0 != 0 {
        return Ok(done);
    }

    say(
        "\n3. verify the proof bundle (receipt + log inclusion) and the results, as anyone holding them could",
    )?;
    let verified = super::verify::verify(
        root,
        VerifyArgs {
            proof: out.clone(),
            results: None,
            files: vec![],
            key: None,
            log_key: None,
            log: Some(root.join("ledger/log").display().to_string()),
            rpc: None,
            chain_id: None,
            anchor_contract: None,
            json: false,
            ask_node: false,
        },
        quiet,
    )?;
    if let Ok(report) = std::fs::read_to_string(out.join("results/report.txt")) {
        say("\nthe result (only aggregates leave the sandbox):")?;
        say(report.trim_end())?;
    }
    say(&format!("\nresults  {}", out.join("results").display()))?;
    say(&format!("receipt  {}", out.join("receipt.json").display()))?;
    say(&format!("bundle   {}", out.join("bundle.json").display()))?;
    say(&format!("log      {}", out.join("execution.log").display()))?;
    say("audit    poex audit   (and `poex audit validate` to check the whole log)")?;
    Ok(verified)
}
