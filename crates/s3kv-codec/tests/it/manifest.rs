//! The manifest: passwords unlock the data key, wrong ones are told apart, and damaged or
//! unknown manifests are refused with the right error.

use s3kv_codec::{
    Error,
    manifest::{DEFAULT_ITERATIONS, KdfParams, Manifest},
};

use crate::support::error_name;

/// Few iterations keep these tests fast; one test runs the default count.
const FAST: KdfParams = KdfParams { iterations: 1000 };

fn sample() -> Result<(Manifest, serde_json::Value), Error> {
    let (manifest, _) = Manifest::create(b"password", b"user salt", "things", FAST)?;
    let json = serde_json::from_slice(&manifest.to_bytes()).unwrap_or_default();
    Ok((manifest, json))
}

fn read(json: &serde_json::Value) -> Result<Manifest, Error> {
    Manifest::from_bytes(json.to_string().as_bytes())
}

#[test]
fn default_iterations_unlock_the_created_key() -> Result<(), Error> {
    let (manifest, key) = Manifest::create(b"password", b"", "things", KdfParams::default())?;

    let unlocked =
        Manifest::from_bytes(&manifest.to_bytes())?.unlock(b"password", b"", "things")?;

    assert_eq!(manifest.kdf_params().iterations, DEFAULT_ITERATIONS);
    assert_eq!(unlocked.as_bytes(), key.as_bytes());
    Ok(())
}

#[test]
fn manifest_bytes_round_trip() -> Result<(), Error> {
    let (manifest, _) = sample()?;

    assert_eq!(Manifest::from_bytes(&manifest.to_bytes())?, manifest);
    Ok(())
}

#[test]
fn wrong_password_or_user_salt_is_wrong_key() -> Result<(), Error> {
    let (manifest, _) = sample()?;

    let password = manifest.unlock(b"Password", b"user salt", "things");
    let salt = manifest.unlock(b"password", b"user salt!", "things");
    let no_salt = manifest.unlock(b"password", b"", "things");

    assert!(matches!(password, Err(Error::WrongKey)));
    assert!(matches!(salt, Err(Error::WrongKey)));
    assert!(matches!(no_salt, Err(Error::WrongKey)));
    Ok(())
}

#[test]
fn manifest_copied_to_another_collection_is_corrupt() -> Result<(), Error> {
    let (manifest, _) = sample()?;

    let result = manifest.unlock(b"password", b"user salt", "other things");

    assert!(matches!(result, Err(Error::Corrupt { check: "manifest authentication", .. })));
    Ok(())
}

#[test]
fn rewrapping_changes_the_password_and_keeps_the_key() -> Result<(), Error> {
    let (manifest, key) = Manifest::create(b"old", b"", "things", FAST)?;

    let rewrapped = Manifest::wrap(&key, b"new", b"", "things", FAST)?;

    assert!(matches!(rewrapped.unlock(b"old", b"", "things"), Err(Error::WrongKey)));
    assert_eq!(rewrapped.unlock(b"new", b"", "things")?.as_bytes(), key.as_bytes());
    assert_eq!(manifest.unlock(b"old", b"", "things")?.as_bytes(), key.as_bytes());
    Ok(())
}

#[test]
fn tampered_wrapped_key_or_nonce_is_corrupt() -> Result<(), Error> {
    let (_, json) = sample()?;
    for field in ["ciphertext", "nonce"] {
        let mut changed = json.clone();
        let value = changed["wrapped_key"][field].as_str().unwrap_or_default();
        let flipped = format!("{}{}", if value.starts_with('0') { '1' } else { '0' }, &value[1..]);
        changed["wrapped_key"][field] = flipped.into();

        let result = read(&changed)?.unlock(b"password", b"user salt", "things");

        assert!(matches!(result, Err(Error::Corrupt { .. })), "{field}: {result:?}");
    }
    Ok(())
}

#[test]
fn tampered_kdf_settings_read_as_wrong_key() -> Result<(), Error> {
    let (_, json) = sample()?;
    let mut salt = json.clone();
    salt["kdf"]["salt"] = "00".repeat(16).into();
    let mut iterations = json.clone();
    iterations["kdf"]["iterations"] = 999.into();

    for changed in [salt, iterations] {
        let result = read(&changed)?.unlock(b"password", b"user salt", "things");
        assert!(matches!(result, Err(Error::WrongKey)), "{result:?}");
    }
    Ok(())
}

#[test]
fn unknown_or_damaged_manifests_are_refused() -> Result<(), Error> {
    let (_, json) = sample()?;
    let change = |path: &[&str], value: serde_json::Value| {
        let mut changed = json.clone();
        let mut target = &mut changed;
        for part in path {
            target = &mut target[*part];
        }
        *target = value;
        changed
    };
    let remove = |field: &str| {
        let mut changed = json.clone();
        changed.as_object_mut().map(|object| object.remove(field));
        changed
    };
    let cases = [
        (change(&["format"], "other".into()), "Unsupported"),
        (change(&["version"], 2.into()), "Unsupported"),
        (change(&["kdf", "name"], "argon2id".into()), "Unsupported"),
        (change(&["wrapped_key", "cipher"], "aes-256-siv".into()), "Unsupported"),
        (change(&["kdf", "iterations"], 0.into()), "Corrupt"),
        (change(&["kdf", "iterations"], 10_000_001.into()), "LimitExceeded"),
        (change(&["kdf", "iterations"], (1_u64 << 40).into()), "LimitExceeded"),
        (change(&["kdf", "iterations"], "1000".into()), "Corrupt"),
        (change(&["kdf", "salt"], "00".repeat(15).into()), "Corrupt"),
        (change(&["kdf", "salt"], "zz".repeat(16).into()), "Corrupt"),
        (change(&["key_check"], "00".repeat(33).into()), "Corrupt"),
        (change(&["wrapped_key", "nonce"], "00".repeat(11).into()), "Corrupt"),
        (change(&["wrapped_key", "ciphertext"], "00".repeat(32).into()), "Corrupt"),
        (change(&["extra"], true.into()), "Corrupt"),
        (change(&["kdf", "extra"], true.into()), "Corrupt"),
        (remove("key_check"), "Corrupt"),
        (remove("format"), "Corrupt"),
        (serde_json::Value::Null, "Corrupt"),
    ];

    for (changed, expected) in cases {
        let result = read(&changed);
        assert_eq!(result.as_ref().map_or_else(error_name, |_| "ok"), expected, "{changed}");
    }
    Ok(())
}

#[test]
fn non_json_empty_or_oversized_bytes_are_refused() {
    let oversized = vec![b' '; 64 * 1024 + 1];
    let cases: [(&[u8], &str); 4] = [
        (b"", "Corrupt"),
        (b"\xff\xfe", "Corrupt"),
        (b"{\"format\":", "Corrupt"),
        (&oversized, "LimitExceeded"),
    ];

    for (bytes, expected) in cases {
        let result = Manifest::from_bytes(bytes);
        assert_eq!(result.as_ref().map_or_else(error_name, |_| "ok"), expected);
    }
}
