//! Use cases: what the service does, in terms of the domain and the ports. Handlers translate
//! requests into these calls and their results (and errors) into responses.

pub mod check;
pub mod delivery;
pub mod destinations;
pub mod events;
mod modify;
pub mod policies;
pub mod revalidation;
pub mod rotation;
pub mod testing;
pub mod writer;

pub use modify::{ATTEMPTS, Caller, Change, ModifyError, Precondition, modify};
