//! Cold start: the page's sign-in settings once, then serve. No AWS client: the page only talks
//! to the API from the browser.

use std::sync::Arc;

use shared::config::Settings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let page = Arc::new(setup_page::wire(&Settings::from_process())?);
    // The page's routes are public: no claim is read.
    let router =
        shared::http::every_request(shared::http::TokenClaims::default(), move |request| {
            let response = setup_page::handler::handle(&page, &request);
            async move { response }
        });
    shared::http::lambda::serve(router).await
}
