//! Unit tests of the s3 settings: how they become a plan, and what is refused.

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn local(bucket: &str) -> S3Settings {
    let mut settings = S3Settings::new(bucket);
    settings.endpoint = Some("http://127.0.0.1:9000/".to_owned());
    settings
}

#[test]
fn debug_redacts_secret_key_and_session_token() {
    let mut settings = local("b");
    settings.access_key = Some("AKIDVISIBLE".to_owned());
    settings.secret_key = Some("very-secret-key".to_owned());
    settings.session_token = Some("very-secret-token".to_owned());
    let debug = format!("{settings:?}");
    assert!(debug.contains("AKIDVISIBLE"), "{debug}");
    assert!(!debug.contains("very-secret"), "{debug}");
    assert!(debug.contains("***"), "{debug}");
}

#[test]
fn the_endpoint_scheme_is_taken_in_any_case() {
    let mut settings = local("b");
    settings.endpoint = Some("HTTPS://Example.test:9000/".to_owned());
    let plan = plan(&settings, no_env).ok();
    assert_eq!(plan.map(|p| p.endpoint), Some("https://Example.test:9000".to_owned()));
}

#[test]
fn custom_endpoint_uses_path_style_and_fallback_region() {
    let plan = plan(&local("b"), no_env).ok();
    let plan = plan.as_ref();
    assert_eq!(plan.map(|p| p.virtual_host), Some(false));
    assert_eq!(plan.map(|p| p.region.as_str()), Some("us-east-1"));
    assert_eq!(plan.map(|p| p.endpoint.as_str()), Some("http://127.0.0.1:9000"));
    assert_eq!(
        plan.map(|p| p.description.as_str()),
        Some("s3 bucket `b` at http://127.0.0.1:9000")
    );
}

#[test]
fn aws_uses_virtual_host_style_and_regional_endpoint() {
    let env = |name: &str| (name == "AWS_REGION").then(|| "eu-west-3".to_owned());
    let plan = plan(&S3Settings::new("b"), env).ok();
    let plan = plan.as_ref();
    assert_eq!(plan.map(|p| p.virtual_host), Some(true));
    assert_eq!(plan.map(|p| p.endpoint.as_str()), Some("https://s3.eu-west-3.amazonaws.com"));
}

#[test]
fn aws_bucket_with_dot_falls_back_to_path_style() {
    let plan = plan(&S3Settings::new("my.bucket"), no_env).ok();
    assert_eq!(plan.map(|p| p.virtual_host), Some(false));
}

#[test]
fn explicit_addressing_wins() {
    let mut settings = local("b");
    settings.addressing = Addressing::Virtual;
    assert_eq!(plan(&settings, no_env).ok().map(|p| p.virtual_host), Some(true));
}

#[test]
fn settings_region_wins_over_environment() {
    let mut settings = local("b");
    settings.region = Some("ap-south-1".to_owned());
    let env = |_: &str| Some("eu-west-3".to_owned());
    assert_eq!(plan(&settings, env).ok().map(|p| p.region), Some("ap-south-1".to_owned()));
}

#[test]
fn root_becomes_a_key_prefix_and_shortens_the_path_limit() {
    let mut settings = local("b");
    settings.root = "/apps/one/".to_owned();
    let plan = plan(&settings, no_env).ok();
    assert_eq!(plan.as_ref().map(|p| p.key_prefix.as_str()), Some("apps/one/"));
    assert_eq!(
        plan.as_ref().map(|p| p.description.as_str()),
        Some("s3 bucket `b` at http://127.0.0.1:9000 under `apps/one/`")
    );
}

#[test]
fn half_credentials_are_invalid_config() {
    let mut settings = local("b");
    settings.access_key = Some("a".to_owned());
    let error = plan(&settings, no_env).err();
    assert_eq!(error.map(|e| e.kind()), Some(ErrorKind::InvalidConfig));

    let mut settings = local("b");
    settings.session_token = Some("t".to_owned());
    let error = plan(&settings, no_env).err();
    assert_eq!(error.map(|e| e.kind()), Some(ErrorKind::InvalidConfig));
}

#[test]
fn full_credentials_are_explicit() {
    let mut settings = local("b");
    settings.access_key = Some("a".to_owned());
    settings.secret_key = Some("s".to_owned());
    assert_eq!(plan(&settings, no_env).ok().map(|p| p.explicit_credentials), Some(true));
    assert_eq!(plan(&local("b"), no_env).ok().map(|p| p.explicit_credentials), Some(false));
}

#[test]
fn empty_bucket_malformed_root_and_zero_limits_are_invalid_config() {
    let mut cases = vec![local(" ")];
    let mut settings = local("b");
    settings.root = "a//b".to_owned();
    cases.push(settings);
    let mut settings = local("b");
    settings.root = "a/../b".to_owned();
    cases.push(settings);
    let mut settings = local("b");
    settings.max_in_flight = 0;
    cases.push(settings);
    let mut settings = local("b");
    settings.timeout = Duration::ZERO;
    cases.push(settings);
    let mut settings = local("b");
    settings.part_size = S3Settings::MIN_PART_SIZE - 1;
    cases.push(settings);
    let mut settings = local("b");
    settings.transfer_concurrency = 0;
    cases.push(settings);
    let mut settings = local("b");
    settings.transfer_concurrency = S3Settings::MAX_TRANSFER_CONCURRENCY + 1;
    cases.push(settings);
    for settings in cases {
        let kind = plan(&settings, no_env).err().map(|e| e.kind());
        assert_eq!(kind, Some(ErrorKind::InvalidConfig), "{settings:?}");
    }
}

#[test]
fn backend_limits_keys_to_1024_bytes_minus_the_root() {
    let mut settings = local("b");
    settings.root = "apps".to_owned();
    let backend = s3(settings).ok();
    let limit = backend.map(|b| b.capabilities().max_path_bytes);
    assert_eq!(limit, Some(1024 - "apps/".len()));
}

#[test]
fn part_size_and_concurrency_limits_are_inclusive_and_named_in_the_error() {
    let mut settings = local("b");
    settings.part_size = S3Settings::MIN_PART_SIZE;
    settings.transfer_concurrency = S3Settings::MAX_TRANSFER_CONCURRENCY;
    assert!(plan(&settings, no_env).is_ok());
    settings.transfer_concurrency = 1;
    assert!(plan(&settings, no_env).is_ok());

    settings.part_size = 1024;
    let error = plan(&settings, no_env).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("5 MiB") && error.contains("5 GiB"), "{error}");
    settings.part_size = S3Settings::DEFAULT_PART_SIZE;
    settings.transfer_concurrency = 65;
    let error = plan(&settings, no_env).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("from 1 to 64"), "{error}");
}

#[test]
fn s3_reads_ranges_and_uploads_in_parts() {
    let capabilities = s3(local("b")).ok().map(|b| b.capabilities());
    assert_eq!(capabilities.as_ref().map(|c| (c.ranged_read, c.multipart)), Some((true, true)));
}

#[test]
fn a_proxy_is_seen_in_any_of_its_variables_and_an_empty_one_is_none() {
    let only = |name: &'static str, value: &'static str| {
        move |asked: &str| (asked == name).then(|| std::ffi::OsString::from(value))
    };
    assert!(!transport::proxy_configured(|_| None));
    for name in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    {
        assert!(transport::proxy_configured(only(name, "http://proxy.test:3128")), "{name}");
        assert!(!transport::proxy_configured(only(name, "")), "{name} empty");
    }
    assert!(!transport::proxy_configured(only("NO_PROXY", "*")));
}
