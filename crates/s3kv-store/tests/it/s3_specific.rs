//! Behaviour only the s3 backend has: bounded failure on a dead endpoint, and a wrong bucket
//! reported as a configuration error.

use std::time::{Duration, Instant};

use s3kv_store::{ErrorKind, S3Settings};

/// A hang guard, not a benchmark: failing must take seconds, not the minutes of an unbounded
/// retry loop. The measured time is printed for the record.
const DEAD_ENDPOINT_BOUND: Duration = Duration::from_secs(15);

#[tokio::test]
async fn dead_endpoint_fails_quickly_and_names_the_endpoint() {
    // Bind a port, then free it: nothing listens there while the test runs.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    let endpoint = format!("http://127.0.0.1:{port}");

    let mut settings = S3Settings::new("no-such-bucket");
    settings.endpoint = Some(endpoint.clone());
    settings.access_key = Some("s3kv-test".to_owned());
    settings.secret_key = Some("s3kv-test-secret".to_owned());
    let backend = s3kv_store::s3(settings).expect("opening sends nothing");

    let started = Instant::now();
    let error = tokio::time::timeout(DEAD_ENDPOINT_BOUND * 2, backend.check())
        .await
        .expect("check ends by itself")
        .expect_err("nothing listens there");
    let elapsed = started.elapsed();
    eprintln!("dead endpoint failed after {elapsed:?}: {error}");

    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(error.is_retryable());
    assert!(error.to_string().contains(&endpoint), "{error}");
    assert!(elapsed < DEAD_ENDPOINT_BOUND, "took {elapsed:?}");

    let get = backend.get("k").await.expect_err("nothing listens there");
    assert_eq!(get.kind(), ErrorKind::Unavailable, "{get}");
    assert!(get.to_string().contains(&endpoint), "{get}");
}

#[tokio::test]
async fn unknown_bucket_check_is_invalid_config() {
    let Some(mut settings) = crate::harness::s3_settings_from_env("") else {
        return;
    };
    settings.bucket = format!("s3kv-missing-{}", crate::harness::unique_name());
    let backend = s3kv_store::s3(settings).expect("opening sends nothing");

    let error = backend.check().await.expect_err("the bucket does not exist");
    assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{error}");
    assert!(error.to_string().contains(&error.backend().to_owned()), "{error}");
}
