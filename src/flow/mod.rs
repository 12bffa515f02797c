//! The flow table: bidirectional conversations keyed by a canonical 5-tuple.

pub mod key;

pub use key::{Direction, EncapContexts, EncapId, Endpoint, FlowKey, L4};

use serde::{Deserialize, Serialize};

/// A live flow's handle: a slot in the flow table plus a generation, so a handle to a
/// flow that has ended never aliases the next flow stored in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FlowId {
    pub slot: u32,
    pub generation: u32,
}

pub mod slots;
pub mod table;
pub use table::{CloseReason, Flow, FlowConfig, FlowTable, PacketFacts, Placement, RoleRule};
