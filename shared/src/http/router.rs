//! The API's routes, matched from method and path. Every function and the local server use this one
//! table; `template.yaml` declares the same routes (a test keeps them in step).

use crate::domain::DestinationId;
use crate::domain::delivery::DeliveryId;

use super::problem::Problem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    GetPlatform,
    /// The signed-in caller: their tenant, who they are, and whether they may change anything.
    GetCaller,
    CreateDestination,
    ListDestinations,
    GetDestination(DestinationId),
    UpdateDestination(DestinationId),
    DeleteDestination(DestinationId),
    SaveDestination(DestinationId),
    DiscardChanges(DestinationId),
    ListActivity(DestinationId),
    GetPolicies(DestinationId),
    /// The documents an edit would render, beside today's; nothing is changed.
    PreviewPolicies(DestinationId),
    GetSetupKit(DestinationId),
    MergeBucketPolicy(DestinationId),
    TestConnection(DestinationId),
    /// "Check now": the active configuration of a saved destination, re-tested on demand.
    CheckNow(DestinationId),
    ListConnectionTests(DestinationId),
    ListDeliveries(DestinationId),
    GetDelivery(DestinationId, DeliveryId),
    /// The platform's exporters, never a tenant: authorized by IAM.
    RequestDelivery,
    VendCredentials(DestinationId),
}

/// Which Lambda function serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    DestinationsApi,
    PoliciesApi,
    TestConnection,
    /// The platform's own callers (IAM-authorized routes under `/internal`).
    DeliveriesApi,
}

/// Who may call a function's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization {
    /// A tenant's token (the JWT authorizer): the tenant comes from its claim.
    Tenant,
    /// The platform's own AWS identities (`AWS_IAM`): the tenant comes from the request.
    Platform,
}

impl Function {
    pub fn authorization(self) -> Authorization {
        match self {
            Function::DeliveriesApi => Authorization::Platform,
            _ => Authorization::Tenant,
        }
    }
}

/// One route: how it is called, which function serves it, whether it changes anything, and how
/// its path's parameters make the [`Route`]. The whole HTTP surface is [`ROUTES`]; a new route is
/// a variant of `Route` and a line there.
pub struct RouteSpec {
    pub method: &'static str,
    pub template: &'static str,
    pub function: Function,
    /// Whether the route changes anything (or, like Test Connection and the merge, acts for the
    /// tenant): a tenant's token needs the write permission for it.
    pub changes_state: bool,
    build: fn(&Params<'_>) -> Result<Route, Problem>,
}

const WRITES: bool = true;
const READS: bool = false;

const fn route(
    method: &'static str,
    template: &'static str,
    function: Function,
    changes_state: bool,
    build: fn(&Params<'_>) -> Result<Route, Problem>,
) -> RouteSpec {
    RouteSpec {
        method,
        template,
        function,
        changes_state,
        build,
    }
}

use Function::{DeliveriesApi, DestinationsApi, PoliciesApi, TestConnection};

/// The whole HTTP surface.
pub const ROUTES: &[RouteSpec] = &[
    route("GET", "/platform", DestinationsApi, READS, |_| {
        Ok(Route::GetPlatform)
    }),
    route("GET", "/me", DestinationsApi, READS, |_| {
        Ok(Route::GetCaller)
    }),
    route("POST", "/destinations", DestinationsApi, WRITES, |_| {
        Ok(Route::CreateDestination)
    }),
    route("GET", "/destinations", DestinationsApi, READS, |_| {
        Ok(Route::ListDestinations)
    }),
    route("GET", "/destinations/{id}", DestinationsApi, READS, |p| {
        Ok(Route::GetDestination(p.id()?))
    }),
    route(
        "PATCH",
        "/destinations/{id}",
        DestinationsApi,
        WRITES,
        |p| Ok(Route::UpdateDestination(p.id()?)),
    ),
    route(
        "DELETE",
        "/destinations/{id}",
        DestinationsApi,
        WRITES,
        |p| Ok(Route::DeleteDestination(p.id()?)),
    ),
    route(
        "POST",
        "/destinations/{id}/save",
        DestinationsApi,
        WRITES,
        |p| Ok(Route::SaveDestination(p.id()?)),
    ),
    route(
        "POST",
        "/destinations/{id}/discard",
        DestinationsApi,
        WRITES,
        |p| Ok(Route::DiscardChanges(p.id()?)),
    ),
    route(
        "GET",
        "/destinations/{id}/activity",
        DestinationsApi,
        READS,
        |p| Ok(Route::ListActivity(p.id()?)),
    ),
    route(
        "GET",
        "/destinations/{id}/policies",
        PoliciesApi,
        READS,
        |p| Ok(Route::GetPolicies(p.id()?)),
    ),
    route(
        "POST",
        "/destinations/{id}/policies/preview",
        PoliciesApi,
        READS,
        |p| Ok(Route::PreviewPolicies(p.id()?)),
    ),
    route(
        "GET",
        "/destinations/{id}/setup-kit",
        PoliciesApi,
        READS,
        |p| Ok(Route::GetSetupKit(p.id()?)),
    ),
    route(
        "POST",
        "/destinations/{id}/bucket-policy/merge",
        PoliciesApi,
        WRITES,
        |p| Ok(Route::MergeBucketPolicy(p.id()?)),
    ),
    route(
        "POST",
        "/destinations/{id}/test",
        TestConnection,
        WRITES,
        |p| Ok(Route::TestConnection(p.id()?)),
    ),
    route(
        "POST",
        "/destinations/{id}/check",
        TestConnection,
        WRITES,
        |p| Ok(Route::CheckNow(p.id()?)),
    ),
    route(
        "GET",
        "/destinations/{id}/tests",
        TestConnection,
        READS,
        |p| Ok(Route::ListConnectionTests(p.id()?)),
    ),
    route(
        "GET",
        "/destinations/{id}/deliveries",
        DestinationsApi,
        READS,
        |p| Ok(Route::ListDeliveries(p.id()?)),
    ),
    route(
        "GET",
        "/destinations/{id}/deliveries/{deliveryId}",
        DestinationsApi,
        READS,
        |p| Ok(Route::GetDelivery(p.id()?, p.delivery_id()?)),
    ),
    route(
        "POST",
        "/internal/deliveries",
        DeliveriesApi,
        WRITES,
        |_| Ok(Route::RequestDelivery),
    ),
    route(
        "POST",
        "/internal/destinations/{id}/credentials",
        DeliveriesApi,
        WRITES,
        |p| Ok(Route::VendCredentials(p.id()?)),
    ),
];

/// A request's path, read against its route's template.
pub struct Params<'a> {
    template: &'static str,
    segments: Vec<&'a str>,
}

impl Params<'_> {
    /// The segment a path parameter sits in, from the template.
    fn param(&self, name: &str) -> Option<&str> {
        self.template
            .split('/')
            .skip(1)
            .position(|part| part == name)
            .and_then(|at| self.segments.get(at).copied())
    }

    /// A malformed id cannot name any destination: same answer as a missing one.
    fn id(&self) -> Result<DestinationId, Problem> {
        self.param("{id}")
            .and_then(|raw| DestinationId::new(raw).ok())
            .ok_or_else(Problem::destination_not_found)
    }

    /// Malformed: no delivery has that id.
    fn delivery_id(&self) -> Result<DeliveryId, Problem> {
        self.param("{deliveryId}")
            .and_then(|raw| DeliveryId::new(raw).ok())
            .ok_or_else(Problem::delivery_not_found)
    }
}

/// A request resolved: its route, and what the table says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub route: Route,
    pub function: Function,
    pub changes_state: bool,
}

fn template_matches(template: &str, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let parts: Vec<&str> = template.split('/').skip(1).collect();
    parts.len() == segments.len()
        && parts
            .iter()
            .zip(&segments)
            .all(|(p, s)| p.starts_with('{') || p == s)
}

/// The path template (`/destinations/{id}`) of a request's route, if it has one.
pub fn route_template(method: &str, path: &str) -> Option<&'static str> {
    ROUTES
        .iter()
        .find(|r| r.method == method && template_matches(r.template, path))
        .map(|r| r.template)
}

/// Resolves a request to a route, or to the 404/405 problem a client should see.
pub fn resolve(method: &str, path: &str) -> Result<Resolved, Problem> {
    let candidates: Vec<&RouteSpec> = ROUTES
        .iter()
        .filter(|r| template_matches(r.template, path))
        .collect();
    if candidates.is_empty() {
        return Err(Problem::not_found(format!("No resource at {path}.")));
    }
    let Some(spec) = candidates.iter().find(|r| r.method == method) else {
        let allowed: Vec<&str> = candidates.iter().map(|r| r.method).collect();
        return Err(Problem::method_not_allowed(&allowed));
    };
    let params = Params {
        template: spec.template,
        segments: path.trim_end_matches('/').split('/').skip(1).collect(),
    };
    Ok(Resolved {
        route: (spec.build)(&params)?,
        function: spec.function,
        changes_state: spec.changes_state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b6f3c1e-8a4d-4a4f-9d0e-6d5c2b1a0f9e";

    #[test]
    fn every_declared_route_resolves_to_its_function() {
        for spec in ROUTES {
            let path = spec
                .template
                .replace("{id}", ID)
                .replace("{deliveryId}", "export-1");
            let resolved = resolve(spec.method, &path)
                .unwrap_or_else(|p| panic!("{} {path}: {p:?}", spec.method));
            assert_eq!(resolved.function, spec.function, "{} {path}", spec.method);
        }
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
        assert_eq!(resolve("GET", "/nope").unwrap_err().status, 404);
        assert_eq!(
            resolve("GET", "/destinations/x/y/z").unwrap_err().status,
            404
        );
        let problem = resolve("PUT", &format!("/destinations/{ID}")).unwrap_err();
        assert_eq!(problem.status, 405);
        assert_eq!(problem.allow.as_deref(), Some("GET, PATCH, DELETE"));
    }

    #[test]
    fn malformed_ids_look_like_missing_destinations() {
        let problem = resolve("GET", "/destinations/not-a-uuid").unwrap_err();
        assert_eq!(problem.status, 404);
        assert_eq!(problem.kind, "/problems/not-found");
    }

    #[test]
    fn malformed_delivery_ids_look_like_missing_deliveries() {
        let problem = resolve("GET", &format!("/destinations/{ID}/deliveries/..")).unwrap_err();
        assert_eq!(problem.status, 404);
        assert_eq!(
            problem.detail,
            Problem::delivery_not_found().detail,
            "{problem:?}"
        );
    }

    #[test]
    fn only_internal_routes_are_authorized_by_iam() {
        for spec in ROUTES {
            assert_eq!(
                spec.function.authorization() == Authorization::Platform,
                spec.template.starts_with("/internal/"),
                "{} {}",
                spec.method,
                spec.template
            );
        }
    }

    /// A POST that only computes an answer (what an edit would render) and changes nothing.
    const READ_ONLY_POSTS: &[&str] = &["/destinations/{id}/policies/preview"];

    #[test]
    fn every_route_but_a_read_changes_state() {
        for spec in ROUTES {
            let path = spec
                .template
                .replace("{id}", ID)
                .replace("{deliveryId}", "export-1");
            let resolved = resolve(spec.method, &path).unwrap();
            assert_eq!(
                resolved.changes_state,
                spec.method != "GET" && !READ_ONLY_POSTS.contains(&spec.template),
                "{} {}",
                spec.method,
                spec.template
            );
        }
    }

    #[test]
    fn trailing_slashes_are_tolerated() {
        assert_eq!(
            resolve("GET", "/destinations/").unwrap().route,
            Route::ListDestinations
        );
    }
}
