//! The facade's behaviour suite: every test runs unchanged against memory, a local folder and,
//! when `S3KV_TEST_ENDPOINT` names one, an S3 server.

mod backends;
mod batch;
mod behaviour;
mod cache;
mod config;
mod legacy;
mod meddled;
mod opened;
mod passwords;
mod streaming;
