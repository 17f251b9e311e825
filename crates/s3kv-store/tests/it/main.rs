//! The store's one integration-test binary: the behaviour suite, run unchanged against every
//! backend, plus the few tests that only make sense for one backend.
//!
//! Memory and fs always run. S3 runs when `S3KV_TEST_ENDPOINT` names a server, and again as
//! `garage` when `S3KV_TEST_GARAGE_ENDPOINT` names one (see `harness.rs` for the other
//! variables); without them those cases pass without doing anything, unless `cargo xtask test`
//! started the server, which makes a missing variable a failure.

#[cfg(any(feature = "fs", feature = "s3"))]
mod conditions;
#[cfg(feature = "fs")]
mod crash;
mod harness;
mod suite;

#[cfg(feature = "s3")]
mod faults;
#[cfg(feature = "fs")]
mod fs_etag;
#[cfg(feature = "fs")]
mod fs_specific;
#[cfg(feature = "s3")]
mod s3_specific;
#[cfg(feature = "s3")]
mod signed;
#[cfg(feature = "s3")]
mod transfers;
#[cfg(feature = "s3")]
mod transport;

/// Instantiates every case of `suite` as a test in a module named after the backend.
///
/// A new backend is one more `behaviour_suite!(name);` line plus its arm in `harness::open`.
macro_rules! behaviour_suite {
    ($backend:ident) => {
        mod $backend {
            macro_rules! case {
                ($case:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        if let Some(fixture) = crate::harness::open(stringify!($backend)).await {
                            crate::suite::$case(&fixture).await;
                        }
                    }
                };
            }

            case!(check_of_a_reachable_backend_succeeds);
            case!(put_get_head_and_delete_round_trip);
            case!(get_and_head_of_a_missing_key_are_not_found);
            case!(delete_of_a_missing_key_succeeds_every_time);
            case!(overwrite_replaces_the_value);
            case!(empty_value_round_trips);
            case!(if_absent_on_a_new_key_writes_it);
            case!(if_absent_on_an_existing_key_is_condition_failed);
            case!(if_absent_racing_creators_exactly_one_wins);
            case!(if_match_follows_the_compare_and_swap_capability);
            case!(if_match_racing_increments_all_count);
            case!(etag_of_put_head_and_get_agree);
            case!(list_with_a_prefix_returns_exactly_the_objects_under_it);
            case!(list_of_more_than_a_thousand_keys_returns_every_page);
            case!(list_of_ten_thousand_keys_returns_every_one);
            case!(list_reports_sizes_and_never_folders);
            case!(odd_key_characters_round_trip_and_list);
            case!(folder_of_an_object_is_not_an_object);
            case!(malformed_paths_are_invalid_path);
            case!(path_at_the_length_limit_round_trips_and_one_byte_more_is_invalid);
            case!(get_if_none_match_is_none_until_the_value_changes);
            case!(get_if_none_match_of_a_missing_key_is_not_found);
            case!(get_range_is_clamped_at_the_end_and_empty_past_it);
            case!(delete_many_removes_existing_keys_and_ignores_missing_ones);
            case!(delete_many_with_a_malformed_path_removes_nothing);
            case!(put_stream_and_get_stream_round_trip_a_large_value);
            case!(put_stream_of_small_and_empty_values_round_trips);
            case!(put_stream_whose_body_fails_stores_nothing);
            case!(put_stream_follows_the_conditional_capabilities);
            case!(get_stream_never_mixes_two_values);
        }
    };
}

#[cfg(feature = "memory")]
behaviour_suite!(memory);
#[cfg(feature = "fs")]
behaviour_suite!(fs);
#[cfg(feature = "s3")]
behaviour_suite!(s3);
#[cfg(feature = "s3")]
behaviour_suite!(garage);
