//! Fuzzes a whole object: any bytes, never a panic (see `s3kv_codec::fuzzing::object`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| s3kv_codec::fuzzing::object(data));
