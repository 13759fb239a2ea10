//! The `desktop` Lambda: Fleet Desktop's API and the My device page, over the AWS adapters.

use flotilla::api::Group;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    flotilla::lambda::run_with(&[Group::Desktop], flotilla_web::pages::routes).await
}
