//! Fuzzes an object read through the streaming decoder: any bytes, never a panic (see `s3kv_codec::fuzzing::stream`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| s3kv_codec::fuzzing::stream(data));
