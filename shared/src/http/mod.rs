//! The HTTP edge shared by every API function: routes, problem details, input parsing, views.

// `Problem` is the error of every HTTP step. It is built once per failed request, never on a hot
// path, so its size matters less than handlers being able to `?` it.
#![allow(clippy::result_large_err)]

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
