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

/// `(method, path template, function)`: the whole HTTP surface.
pub const ROUTES: &[(&str, &str, Function)] = &[
    ("GET", "/platform", Function::DestinationsApi),
    ("GET", "/me", Function::DestinationsApi),
    ("POST", "/destinations", Function::DestinationsApi),
    ("GET", "/destinations", Function::DestinationsApi),
    ("GET", "/destinations/{id}", Function::DestinationsApi),
    ("PATCH", "/destinations/{id}", Function::DestinationsApi),
    ("DELETE", "/destinations/{id}", Function::DestinationsApi),
    ("POST", "/destinations/{id}/save", Function::DestinationsApi),
    (
        "POST",
        "/destinations/{id}/discard",
        Function::DestinationsApi,
    ),
    (
        "GET",
        "/destinations/{id}/activity",
        Function::DestinationsApi,
    ),
    ("GET", "/destinations/{id}/policies", Function::PoliciesApi),
    ("GET", "/destinations/{id}/setup-kit", Function::PoliciesApi),
    (
        "POST",
        "/destinations/{id}/bucket-policy/merge",
        Function::PoliciesApi,
    ),
    ("POST", "/destinations/{id}/test", Function::TestConnection),
    ("POST", "/destinations/{id}/check", Function::TestConnection),
    ("GET", "/destinations/{id}/tests", Function::TestConnection),
    (
        "GET",
        "/destinations/{id}/deliveries",
        Function::DestinationsApi,
    ),
    (
        "GET",
        "/destinations/{id}/deliveries/{deliveryId}",
        Function::DestinationsApi,
    ),
    ("POST", "/internal/deliveries", Function::DeliveriesApi),
    (
        "POST",
        "/internal/destinations/{id}/credentials",
        Function::DeliveriesApi,
    ),
];

impl Route {
    pub fn function(&self) -> Function {
        match self {
            Route::GetPolicies(_) | Route::GetSetupKit(_) | Route::MergeBucketPolicy(_) => {
                Function::PoliciesApi
            }
            Route::TestConnection(_) | Route::CheckNow(_) | Route::ListConnectionTests(_) => {
                Function::TestConnection
            }
            Route::RequestDelivery | Route::VendCredentials(_) => Function::DeliveriesApi,
            _ => Function::DestinationsApi,
        }
    }
}

impl Route {
    /// Whether the route changes anything (or, like Test Connection and the merge, acts for the
    /// tenant): a tenant's token needs the write permission for it. Listed route by route, so a
    /// new route must be placed on one side.
    pub fn changes_state(&self) -> bool {
        match self {
            Route::CreateDestination
            | Route::UpdateDestination(_)
            | Route::DeleteDestination(_)
            | Route::SaveDestination(_)
            | Route::DiscardChanges(_)
            | Route::MergeBucketPolicy(_)
            | Route::TestConnection(_)
            | Route::CheckNow(_)
            | Route::RequestDelivery
            | Route::VendCredentials(_) => true,
            Route::GetPlatform
            | Route::GetCaller
            | Route::ListDestinations
            | Route::GetDestination(_)
            | Route::ListActivity(_)
            | Route::GetPolicies(_)
            | Route::GetSetupKit(_)
            | Route::ListConnectionTests(_)
            | Route::ListDeliveries(_)
            | Route::GetDelivery(..) => false,
        }
    }
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
        .find(|(m, t, _)| *m == method && template_matches(t, path))
        .map(|(_, t, _)| *t)
}

/// Resolves a request to a route, or to the 404/405 problem a client should see.
pub fn resolve(method: &str, path: &str) -> Result<Route, Problem> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let candidates: Vec<&(&str, &str, Function)> = ROUTES
        .iter()
        .filter(|(_, t, _)| template_matches(t, path))
        .collect();
    if candidates.is_empty() {
        return Err(Problem::not_found(format!("No resource at {path}.")));
    }
    let Some((_, template, _)) = candidates.iter().find(|(m, _, _)| *m == method) else {
        let allowed: Vec<&str> = candidates.iter().map(|(m, _, _)| *m).collect();
        return Err(Problem::method_not_allowed(&allowed));
    };
    // The segment a path parameter sits in, from the template.
    let param = |name: &str| {
        template
            .split('/')
            .skip(1)
            .position(|part| part == name)
            .and_then(|at| segments.get(at))
    };
    let id = || {
        // A malformed id cannot name any destination: same answer as a missing one.
        param("{id}")
            .and_then(|raw| DestinationId::new(raw).ok())
            .ok_or_else(Problem::destination_not_found)
    };
    Ok(match (method, *template) {
        ("GET", "/platform") => Route::GetPlatform,
        ("GET", "/me") => Route::GetCaller,
        ("POST", "/destinations") => Route::CreateDestination,
        ("GET", "/destinations") => Route::ListDestinations,
        ("GET", "/destinations/{id}") => Route::GetDestination(id()?),
        ("PATCH", "/destinations/{id}") => Route::UpdateDestination(id()?),
        ("DELETE", "/destinations/{id}") => Route::DeleteDestination(id()?),
        ("POST", "/destinations/{id}/save") => Route::SaveDestination(id()?),
        ("POST", "/destinations/{id}/discard") => Route::DiscardChanges(id()?),
        ("GET", "/destinations/{id}/activity") => Route::ListActivity(id()?),
        ("GET", "/destinations/{id}/policies") => Route::GetPolicies(id()?),
        ("GET", "/destinations/{id}/setup-kit") => Route::GetSetupKit(id()?),
        ("POST", "/destinations/{id}/bucket-policy/merge") => Route::MergeBucketPolicy(id()?),
        ("POST", "/destinations/{id}/test") => Route::TestConnection(id()?),
        ("POST", "/destinations/{id}/check") => Route::CheckNow(id()?),
        ("GET", "/destinations/{id}/tests") => Route::ListConnectionTests(id()?),
        ("GET", "/destinations/{id}/deliveries") => Route::ListDeliveries(id()?),
        ("GET", "/destinations/{id}/deliveries/{deliveryId}") => Route::GetDelivery(
            id()?,
            // Malformed: no delivery has that id.
            param("{deliveryId}")
                .and_then(|raw| DeliveryId::new(raw).ok())
                .ok_or_else(Problem::delivery_not_found)?,
        ),
        ("POST", "/internal/deliveries") => Route::RequestDelivery,
        ("POST", "/internal/destinations/{id}/credentials") => Route::VendCredentials(id()?),
        _ => return Err(Problem::not_found(format!("No resource at {path}."))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b6f3c1e-8a4d-4a4f-9d0e-6d5c2b1a0f9e";

    #[test]
    fn every_declared_route_resolves_to_its_function() {
        for (method, template, function) in ROUTES {
            let path = template
                .replace("{id}", ID)
                .replace("{deliveryId}", "export-1");
            let route = resolve(method, &path).unwrap_or_else(|p| panic!("{method} {path}: {p:?}"));
            assert_eq!(route.function(), *function, "{method} {path}");
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
        for (method, template, function) in ROUTES {
            assert_eq!(
                function.authorization() == Authorization::Platform,
                template.starts_with("/internal/"),
                "{method} {template}"
            );
        }
    }

    #[test]
    fn every_route_but_a_read_changes_state() {
        for (method, template, _) in ROUTES {
            let path = template
                .replace("{id}", ID)
                .replace("{deliveryId}", "export-1");
            let route = resolve(method, &path).unwrap();
            assert_eq!(
                route.changes_state(),
                *method != "GET",
                "{method} {template}"
            );
        }
    }

    #[test]
    fn trailing_slashes_are_tolerated() {
        assert_eq!(
            resolve("GET", "/destinations/").unwrap(),
            Route::ListDestinations
        );
    }
}
