//! Bindings generated from the solcjs artifacts in `contracts/build` (ABI and init code), so the
//! Rust side always matches what `contracts/build.mjs` compiled; `npm run check --prefix
//! contracts` proves the artifacts come from `contracts/src`.

#![allow(
    missing_docs,
    reason = "generated from the contracts' ABI; documented in contracts/src"
)]
#![allow(
    clippy::too_many_arguments,
    reason = "generated: the functions take what the contracts take (submitTask, submitResult)"
)]

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    HashSig,
    "../../contracts/build/HashSig.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    CheckpointAnchor,
    "../../contracts/build/CheckpointAnchor.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    PoxTasks,
    "../../contracts/build/PoxTasks.json"
);
