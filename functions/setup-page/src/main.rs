//! Cold start: the page's sign-in settings once, then serve. No AWS client: the page only talks
//! to the API from the browser.

use shared::config::Settings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let page = setup_page::wire(&Settings::from_process())?;
    // The page's routes are public: no claim is read.
    shared::http::lambda::serve(&shared::http::TokenClaims::default(), |request| {
        let response = setup_page::handler::handle(&page, &request);
        async move { response }
    })
    .await
}
