//! Fuzzes a plaintext range read: any bytes, never a panic (see `s3kv_codec::fuzzing::range`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| s3kv_codec::fuzzing::range(data));
