//! Fuzzes one chunk's data, wrapped in a sound object so it reaches the decompressor: any bytes, never a panic (see `s3kv_codec::fuzzing::chunk`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| s3kv_codec::fuzzing::chunk(data));
