//! The HTTP edge shared by every API function: routes, problem details, input parsing, views.

mod api;
mod edge;
mod input;
#[cfg(feature = "http")]
pub mod lambda;
mod problem;
mod router;
mod views;

pub use api::{ApiRequest, ApiResponse};
pub use edge::{finish, load_destination, storage_problem};
pub use input::{Fields, MAX_BODY_BYTES, json_object};
pub use problem::{FieldError, PROBLEM_JSON, Problem};
pub use router::{Function, ROUTES, Route, resolve, route_template};
pub use views::{DestinationView, etag, if_match_version};
