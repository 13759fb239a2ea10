//! The `carve` Lambda: only its group's routes, over the AWS adapters.

use flotilla::api::Group;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    flotilla::lambda::run(&[Group::Carve]).await
}
