//! The `admin` Lambda: the admin API and the admin UI's pages, over the AWS adapters.

use flotilla::api::Group;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    flotilla::lambda::run_with(&[Group::Admin], flotilla_web::pages::routes).await
}
