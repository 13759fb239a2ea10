//! The `packager-status` Lambda: only its route, over the AWS adapters.

use flotilla::api::Group;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    flotilla::lambda::run(&[Group::PackagerStatus]).await
}
