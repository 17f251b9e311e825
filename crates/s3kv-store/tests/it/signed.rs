//! AWS Signature Version 4 for the few raw requests the tests send themselves (listing open
//! multipart uploads), so that servers which check signatures, such as Garage, answer them.
//!
//! Only what those requests need: a GET or DELETE with an empty body, path-style addressing,
//! query parameters already percent-encoded by the caller.

use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// SHA-256 of an empty body, as S3 wants it in `x-amz-content-sha256`.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The headers that sign a request, each as a `name: value` line without the line end.
///
/// `query` holds `name=value` pairs, each already percent-encoded (a flag such as `uploads`
/// is given as `uploads=`).
pub(crate) fn headers(
    method: &str,
    host: &str,
    path: &str,
    query: &[(&str, String)],
    credentials: (&str, &str, &str),
) -> Vec<String> {
    let (access_key, secret_key, region) = credentials;
    let (date, stamp) = now();
    let mut pairs: Vec<String> =
        query.iter().map(|(name, value)| format!("{name}={value}")).collect();
    pairs.sort();
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    let canonical = format!(
        "{method}\n{path}\n{}\nhost:{host}\nx-amz-content-sha256:{EMPTY_SHA256}\n\
         x-amz-date:{stamp}\n\n{signed_headers}\n{EMPTY_SHA256}",
        pairs.join("&")
    );
    let scope = format!("{date}/{region}/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret_key}").as_bytes(), date.as_bytes());
    for part in [region, "s3", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
    vec![
        format!("x-amz-content-sha256: {EMPTY_SHA256}"),
        format!("x-amz-date: {stamp}"),
        format!(
            "Authorization: AWS4-HMAC-SHA256 Credential={access_key}/{scope}, \
             SignedHeaders={signed_headers}, Signature={signature}"
        ),
    ]
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0_u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|key_byte| key_byte ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// Today's date (`YYYYMMDD`) and this second (`YYYYMMDDTHHMMSSZ`) in UTC.
fn now() -> (String, String) {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_date(days);
    let date = format!("{year:04}{month:02}{day:02}");
    let (hour, minute, second) =
        (second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
    let stamp = format!("{date}T{hour:02}{minute:02}{second:02}Z");
    (date, stamp)
}

/// The proleptic Gregorian date `days` after 1970-01-01, counted in 400-year eras of
/// 146,097 days that start on 1 March, so the leap day ends each era's year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[test]
fn known_dates_and_the_documented_hmac_vector() {
    assert_eq!(civil_date(0), (1970, 1, 1));
    assert_eq!(civil_date(11_016), (2000, 2, 29));
    assert_eq!(civil_date(20_791), (2026, 12, 4));
    // RFC 4231, test case 2.
    assert_eq!(
        hex::encode(hmac(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}
