//! Unit tests of the parameter table and of each value parser.

use super::*;

fn text(value: &str) -> Scalar {
    Scalar::Text(value.to_owned())
}

#[test]
fn table_lists_every_parameter_in_order() {
    let names: Vec<&str> = TABLE.iter().map(|parameter| parameter.name).collect();
    assert_eq!(names, PARAMETERS);
}

#[test]
fn secrets_table_accepts_every_parameter_and_type() {
    let mut expected = PARAMETERS.to_vec();
    expected.push("type");
    assert_eq!(SECRETS_TABLE_NAMES, expected.as_slice());
}

#[test]
fn only_the_four_secret_parameters_are_secret() {
    let secret: Vec<&str> = TABLE
        .iter()
        .filter(|parameter| parameter.is_secret)
        .map(|parameter| parameter.name)
        .collect();
    assert_eq!(secret, ["password", "salt", "secret_key", "session_token"]);
}

#[test]
fn mode_accepts_the_three_modes_in_any_case() {
    assert_eq!(parse_mode(text("s3")), Ok(Mode::S3));
    assert_eq!(parse_mode(text("LOCAL")), Ok(Mode::Local));
    assert_eq!(parse_mode(text(" dict ")), Ok(Mode::Dict));
}

#[test]
fn mode_rejects_other_values() {
    for scalar in [text("ftp"), text(""), Scalar::Integer(3), Scalar::Bool(true), Scalar::Nothing] {
        assert_eq!(parse_mode(scalar), Err(Invalid));
    }
}

#[test]
fn addressing_treats_empty_as_auto() {
    assert_eq!(parse_addressing(text("")), Ok(Addressing::Auto));
    assert_eq!(parse_addressing(text("auto")), Ok(Addressing::Auto));
    assert_eq!(parse_addressing(text("path")), Ok(Addressing::Path));
    assert_eq!(parse_addressing(text("Virtual")), Ok(Addressing::Virtual));
    assert_eq!(parse_addressing(text("sideways")), Err(Invalid));
}

#[test]
fn optional_text_treats_empty_as_not_set() {
    assert_eq!(parse_optional_text(text("")), Ok(None));
    assert_eq!(parse_optional_text(Scalar::Nothing), Ok(None));
    assert_eq!(parse_optional_text(text("crypto-salt")), Ok(Some("crypto-salt".into())));
    assert_eq!(parse_optional_text(text(" spaced ")), Ok(Some(" spaced ".into())));
    assert_eq!(parse_optional_text(Scalar::Integer(1)), Err(Invalid));
}

#[test]
fn text_keeps_empty_as_a_value() {
    assert_eq!(parse_text(text("")), Ok(String::new()));
    assert_eq!(parse_text(text("something/version-1")), Ok("something/version-1".into()));
    assert_eq!(parse_text(Scalar::Float(1.0)), Err(Invalid));
}

#[test]
fn endpoint_requires_an_http_scheme_and_a_host() {
    let ok = ["https://sfo3.digitaloceanspaces.com", "http://127.0.0.1:9000", "HTTPS://S3.example"];
    for endpoint in ok {
        assert_eq!(parse_endpoint(text(endpoint)), Ok(Some(endpoint.into())), "{endpoint}");
    }
    assert_eq!(parse_endpoint(text("")), Ok(None));
    for endpoint in ["sfo3.digitaloceanspaces.com", "https://", "ftp://host", "http:///path"] {
        assert_eq!(parse_endpoint(text(endpoint)), Err(Invalid), "{endpoint}");
    }
}

#[test]
fn ttl_accepts_seconds_and_humantime() {
    assert_eq!(parse_ttl(Scalar::Integer(600)), Ok(Some(Duration::from_mins(10))));
    assert_eq!(parse_ttl(Scalar::Float(1.5)), Ok(Some(Duration::from_millis(1500))));
    assert_eq!(parse_ttl(text("10m")), Ok(Some(Duration::from_mins(10))));
    assert_eq!(parse_ttl(text("1h 30m")), Ok(Some(Duration::from_mins(90))));
    assert_eq!(parse_ttl(text("600")), Ok(Some(Duration::from_mins(10))));
    assert_eq!(parse_ttl(text("0.25")), Ok(Some(Duration::from_millis(250))));
    assert_eq!(parse_ttl(Scalar::Integer(0)), Ok(Some(Duration::ZERO)));
}

#[test]
fn ttl_empty_means_no_caching() {
    assert_eq!(parse_ttl(text("")), Ok(None));
    assert_eq!(parse_ttl(Scalar::Nothing), Ok(None));
}

#[test]
fn ttl_rejects_negative_non_finite_and_words() {
    let bad = [
        Scalar::Integer(-1),
        Scalar::Float(-0.5),
        Scalar::Float(f64::NAN),
        Scalar::Float(f64::INFINITY),
        Scalar::Float(1e300),
        text("soon"),
        text("-5"),
        text("inf"),
        text("NaN"),
        Scalar::Bool(true),
    ];
    for scalar in bad {
        let shown = format!("{scalar:?}");
        assert_eq!(parse_ttl(scalar), Err(Invalid), "{shown}");
    }
}

#[test]
fn durations_past_a_century_are_rejected() {
    let century = MAX_DURATION.as_secs();
    assert_eq!(parse_ttl(Scalar::Integer(century.into())), Ok(Some(MAX_DURATION)));
    assert_eq!(parse_ttl(Scalar::Integer((century + 1).into())), Err(Invalid));
    assert_eq!(parse_ttl(Scalar::Integer(u64::MAX.into())), Err(Invalid));
    assert_eq!(parse_ttl(text("100years")), Ok(Some(MAX_DURATION)));
    assert_eq!(parse_ttl(text("101years")), Err(Invalid));
    assert_eq!(parse_timeout(text("18446744073709551615")), Err(Invalid));
    assert_eq!(parse_timeout(Scalar::Float(1e12)), Err(Invalid));
}

#[test]
fn timeout_must_be_positive() {
    assert_eq!(parse_timeout(Scalar::Integer(30)), Ok(Duration::from_secs(30)));
    assert_eq!(parse_timeout(text("500ms")), Ok(Duration::from_millis(500)));
    assert_eq!(parse_timeout(Scalar::Integer(0)), Err(Invalid));
    assert_eq!(parse_timeout(text("0s")), Err(Invalid));
    assert_eq!(parse_timeout(text("")), Err(Invalid));
}

#[test]
fn whole_numbers_parse_from_numbers_and_strings() {
    assert_eq!(parse_whole_number(Scalar::Integer(5)), Ok(5));
    assert_eq!(parse_whole_number(text("5")), Ok(5));
    assert_eq!(parse_whole_number(text(" 7 ")), Ok(7));
    for scalar in [Scalar::Integer(-1), text("-1"), text("five"), Scalar::Float(5.0), text("")] {
        let shown = format!("{scalar:?}");
        assert_eq!(parse_whole_number(scalar), Err(Invalid), "{shown}");
    }
}

#[test]
fn defaults_cover_exactly_the_parameters_with_a_default() {
    let defaults = defaults();
    let names: Vec<&str> = defaults.keys().map(String::as_str).collect();
    let mut expected = [
        "mode",
        "addressing",
        "prefix",
        "path",
        "timeout",
        "connect_timeout",
        "retries",
        "max_in_flight",
        "cache_size",
        "allow_pickle",
    ];
    expected.sort_unstable();
    assert_eq!(names, expected);
}

#[test]
fn cache_size_accepts_bytes_and_units() {
    assert_eq!(parse_cache_size(Scalar::Integer(1 << 20)), Ok(1 << 20));
    assert_eq!(parse_cache_size(text("64MiB")), Ok(64 << 20));
    assert_eq!(parse_cache_size(text(" 64 mib ")), Ok(64 << 20));
    assert_eq!(parse_cache_size(text("2MB")), Ok(2_000_000));
    assert_eq!(parse_cache_size(text("1GiB")), Ok(1 << 30));
    assert_eq!(parse_cache_size(text("1TiB")), Ok(1 << 40));
    assert_eq!(parse_cache_size(text("3000000")), Ok(3_000_000));
}

#[test]
fn cache_size_rejects_out_of_range_and_nonsense() {
    for scalar in [
        Scalar::Integer(0),
        Scalar::Integer(-1),
        Scalar::Integer((1 << 20) - 1),
        Scalar::Float(1e9),
        Scalar::Bool(true),
        Scalar::Nothing,
        text(""),
        text("1.5GB"),
        text("1PiB"),
        text("2TiB"),
        text("-5MB"),
        text("MB"),
        text("64 MiB extra"),
        text("99999999999999999999999GiB"),
    ] {
        let shown = format!("{scalar:?}");
        assert_eq!(parse_cache_size(scalar), Err(Invalid), "{shown}");
    }
}

#[test]
fn flags_accept_booleans_and_their_usual_spellings() {
    for (scalar, expected) in [
        (Scalar::Bool(true), true),
        (Scalar::Bool(false), false),
        (Scalar::Integer(1), true),
        (Scalar::Integer(0), false),
        (text("TRUE"), true),
        (text(" yes "), true),
        (text("on"), true),
        (text("1"), true),
        (text("False"), false),
        (text("no"), false),
        (text("off"), false),
        (text("0"), false),
    ] {
        let shown = format!("{scalar:?}");
        assert_eq!(parse_flag(scalar), Ok(expected), "{shown}");
    }
    for scalar in [Scalar::Integer(2), Scalar::Float(1.0), Scalar::Nothing, text(""), text("maybe")]
    {
        let shown = format!("{scalar:?}");
        assert_eq!(parse_flag(scalar), Err(Invalid), "{shown}");
    }
}

#[test]
fn a_capital_m_is_refused_rather_than_read_as_months() {
    for written in ["10M", "10 M", "1h 10M", "3M"] {
        assert_eq!(parse_ttl(text(written)), Err(Invalid), "{written}");
    }
    assert_eq!(parse_ttl(text("10min")), Ok(Some(Duration::from_mins(10))));
    assert_eq!(parse_ttl(text("10m")), Ok(Some(Duration::from_mins(10))));
    assert_eq!(parse_ttl(text("2months")), Ok(Some(Duration::from_secs(2 * 2_630_016))));
}

#[test]
fn cache_max_value_is_a_size_or_nothing() {
    assert_eq!(parse_cache_max_value(text("4MiB")), Ok(Some(4 << 20)));
    assert_eq!(parse_cache_max_value(Scalar::Integer(1)), Ok(Some(1)));
    assert_eq!(parse_cache_max_value(text("")), Ok(None));
    assert_eq!(parse_cache_max_value(Scalar::Nothing), Ok(None));
    for scalar in [Scalar::Integer(0), Scalar::Integer(-3), text("2TiB"), text("big")] {
        let shown = format!("{scalar:?}");
        assert_eq!(parse_cache_max_value(scalar), Err(Invalid), "{shown}");
    }
}
