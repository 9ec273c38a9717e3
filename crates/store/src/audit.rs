//! Audit events: what happened, by whom, on what, when. The types are poex-core's
//! ([`poex_core::audit`]): the transparency log takes events as its entries unchanged.

pub use poex_core::audit::*;
