//! A collection's data key: the manifest that holds it wrapped by the password, and the checks
//! that make a wrong password fail when the collection opens, never later.
//!
//! A manifest is created the first time a collection is opened with a password. Before that
//! happens, the values already stored there (if any) must be ones this password opens: those
//! of the original library, encrypted with a key derived from the same password and salt.
//! Otherwise a mistyped password would silently become the collection's password, and values
//! stored without a password would be locked away behind it.

use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use s3kv_codec::{DataKey, legacy, manifest};
use s3kv_store::{Backend, ErrorKind as StoreKind, PutMode};

use crate::error::{Error, ErrorKind, Result};
use crate::names::Names;

/// How long to wait before reading back a manifest written to a server that ignores
/// create-only writes: longer than another app takes between finding no manifest and writing
/// its own (one key derivation), so both read back the same one.
const READ_BACK_DELAY: Duration = Duration::from_secs(1);

/// How many listed values a first opening with a password tries to read, to check the password
/// against them, before it concludes that the server's reads are not to be believed.
const LISTED_VALUES_TRIED: usize = 3;

/// No manifest s3kv writes comes near this; a larger object at the manifest's name is not
/// read whole, so a planted giant costs one small ranged read.
const MAX_MANIFEST_LEN: u64 = 64 * 1024;

/// The manifest's bytes, or `None` when there is none, read with a bounded ranged read.
async fn read_manifest(backend: &dyn Backend, path: &str) -> Result<Option<Bytes>> {
    let bytes = match backend.get_range(path, 0..MAX_MANIFEST_LEN + 1).await {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == StoreKind::NotFound => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    if bytes.len() as u64 > MAX_MANIFEST_LEN {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!(
                "the collection's manifest (manifest.s3kv) is larger than {} KiB, which no \
                 manifest is: it was replaced or damaged",
                MAX_MANIFEST_LEN / 1024
            ),
        ));
    }
    Ok(Some(bytes))
}

/// Opens the data key of `collection`: with a password, unlocks its manifest, creating the
/// manifest on first use; without one, checks that the collection has no manifest.
///
/// # Errors
///
/// `WrongPassword` when the password does not open the manifest or the values already
/// stored, when a manifest exists and no password was given, or when values stored without a
/// password exist and one was given; `Corrupt` when the manifest is damaged or missing beside
/// encrypted values; `Backend`.
pub(crate) async fn unlock(
    backend: &dyn Backend,
    collection: &str,
    password: Option<&str>,
    salt: &str,
) -> Result<Option<DataKey>> {
    let names = Names::new(collection, &backend.capabilities())?;
    let path = names.manifest();
    let existing = read_manifest(backend, &path).await?;
    let Some(password) = password else {
        if existing.is_some() {
            return Err(Error::new(
                ErrorKind::WrongPassword,
                "this collection is protected by a password: open it with password=...",
            ));
        }
        return Ok(None);
    };
    if let Some(bytes) = existing {
        return open_manifest(&bytes, password, salt, collection).map(Some);
    }

    check_stored_values(backend, &names, password, salt).await?;
    create_manifest(backend, &path, collection, password, salt).await.map(Some)
}

/// Refuses a password for a collection whose stored values it does not open.
async fn check_stored_values(
    backend: &dyn Backend,
    names: &Names,
    password: &str,
    salt: &str,
) -> Result<()> {
    // One value is enough: the original library used one key for every value. A listed value
    // may be deleted before it is read, so a few are listed; but when every one of them reads
    // as missing, the server is not telling the truth about this collection, and deciding that
    // it is new could write a manifest over the one its values need.
    let mut listing = backend.list(names.directory());
    let mut listed = Vec::new();
    while let Some(entry) = listing.try_next().await? {
        if names.key_of(&entry.path).is_some() {
            listed.push(entry.path);
            if listed.len() == LISTED_VALUES_TRIED {
                break;
            }
        }
    }
    drop(listing);
    let mut stored = None;
    for path in &listed {
        match backend.get(path).await {
            Ok(object) => {
                stored = Some(object.bytes);
                break;
            }
            Err(error) if error.kind() == StoreKind::NotFound => {}
            Err(error) => return Err(error.into()),
        }
    }
    let Some(stored) = stored else {
        if listed.is_empty() {
            return Ok(());
        }
        return Err(Error::new(
            ErrorKind::Backend,
            "the server lists values in this collection but answers their reads as missing, so \
             whether it already has a manifest (which holds the values' key) cannot be told; \
             nothing was written: try again, and check the server if this persists",
        ));
    };

    if s3kv_codec::is_s3kv_object(&stored) {
        let header = s3kv_codec::read_header(&stored)?;
        return Err(if header.encrypted {
            Error::new(
                ErrorKind::Corrupt,
                "this collection holds encrypted values but its manifest (manifest.s3kv), which \
                 holds their key, is missing: restore it from a backup; no password opens them \
                 without it",
            )
        } else {
            unencrypted_values()
        });
    }
    let Ok(key) = legacy::LegacyKey::derive(password, salt) else {
        return Err(Error::new(
            ErrorKind::WrongPassword,
            "this collection holds values of st_s3kv_connection, whose salt had to be hex of at \
             most 8 bytes: open it with the salt it was written with",
        ));
    };
    match legacy::decode(&stored, Some(&key)) {
        Ok(_) => Ok(()),
        Err(s3kv_codec::Error::WrongKey) => Err(Error::new(
            ErrorKind::WrongPassword,
            "wrong password for the values in this collection (or a different salt than they \
             were written with)",
        )),
        Err(s3kv_codec::Error::NotEncrypted) => Err(unencrypted_values()),
        Err(other) => Err(other.into()),
    }
}

fn unencrypted_values() -> Error {
    Error::new(
        ErrorKind::WrongPassword,
        "this collection holds values stored without a password: open it without one",
    )
}

/// Writes a new manifest unless one appeared meanwhile, and returns the key every app that
/// opens the collection will use.
async fn create_manifest(
    backend: &dyn Backend,
    path: &str,
    collection: &str,
    password: &str,
    salt: &str,
) -> Result<DataKey> {
    let (created, key) = manifest::Manifest::create(
        password.as_bytes(),
        salt.as_bytes(),
        collection,
        manifest::KdfParams::default(),
    )?;
    let bytes = Bytes::from(created.to_bytes());
    match backend.put(path, bytes.clone(), PutMode::IfAbsent).await {
        Ok(_) => Ok(key),
        // Another app created it first: its key is the collection's key.
        Err(error) if error.kind() == StoreKind::ConditionFailed => {
            read_back(backend, path, password, salt, collection).await
        }
        // The server ignores create-only writes. Overwriting and keeping our own key would let
        // two apps starting at once encrypt with different keys, losing one app's values; so
        // write, wait, and use whatever manifest the server then holds. The remaining race is
        // in docs/limitations.md.
        Err(error) if error.kind() == StoreKind::Unsupported => {
            // This write replaces whatever is there. A manifest that has appeared since the
            // read (another app creating the collection) is used; one the server says exists
            // while its read finds none is not written over, since it holds every value's key.
            match backend.head(path).await {
                Ok(_) => {
                    let Some(stored) = read_manifest(backend, path).await? else {
                        return Err(Error::new(
                            ErrorKind::Backend,
                            "the server says this collection's manifest (manifest.s3kv) exists \
                             but answers its read as missing; a new one is not written over it: \
                             try again, and check the server if this persists",
                        ));
                    };
                    return open_manifest(&stored, password, salt, collection);
                }
                Err(error) if error.kind() == StoreKind::NotFound => {}
                Err(error) => return Err(error.into()),
            }
            backend.put(path, bytes, PutMode::Overwrite).await?;
            tokio::time::sleep(READ_BACK_DELAY).await;
            read_back(backend, path, password, salt, collection).await
        }
        Err(error) => Err(error.into()),
    }
}

async fn read_back(
    backend: &dyn Backend,
    path: &str,
    password: &str,
    salt: &str,
    collection: &str,
) -> Result<DataKey> {
    let Some(stored) = read_manifest(backend, path).await? else {
        return Err(Error::new(
            ErrorKind::Backend,
            "the manifest just written is gone: another app may have deleted the collection",
        ));
    };
    open_manifest(&stored, password, salt, collection)
}

fn open_manifest(bytes: &[u8], password: &str, salt: &str, collection: &str) -> Result<DataKey> {
    let manifest = manifest::Manifest::from_bytes(bytes)?;
    manifest.unlock(password.as_bytes(), salt.as_bytes(), collection).map_err(|error| match error {
        s3kv_codec::Error::WrongKey => Error::new(
            ErrorKind::WrongPassword,
            "wrong password for this collection (or a different salt than it was created with)",
        ),
        other => other.into(),
    })
}
