pub mod harness;
pub mod moto;
pub mod osquery_client;
