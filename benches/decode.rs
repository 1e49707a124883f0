//! Micro-benchmarks of the pure parsing layer: the lenient value parser and every
//! upstream decoder on its recorded fixture (`tests/fixtures/`).
//!
//! `cargo bench --bench decode`; the figures are in BENCHMARKS.md.
#![forbid(unsafe_code)]

use divan::{Bencher, black_box};
use huaweicloud_quota_exporter::upstream::decode::value;
use huaweicloud_quota_exporter::upstream::{eventgrid, gaussdb, roma};

fn main() {
    divan::main();
}

/// Every quirk the APIs send, as strings.
const NUMBERS: [&str; 8] = [
    "10000",
    "4,",
    " 40 ",
    "1,000",
    "0.5",
    "-1",
    "1e3",
    "2147483647",
];

#[divan::bench(args = NUMBERS)]
fn parse_number_str(s: &str) -> f64 {
    value::parse_number_str(black_box(s)).unwrap_or(f64::NAN)
}

/// An unreadable value: the error path allocates its excerpt.
#[divan::bench]
fn parse_number_str_invalid() -> bool {
    value::parse_number_str(black_box("4a")).is_err()
}

const TIMES: [&str; 4] = [
    "2020-09-20 00:00:00",
    "2020-09-20 00:00:00 +0000 +0000",
    "2020-09-19T15:27:47.60571141+08:00",
    "1600560000",
];

#[divan::bench(args = TIMES)]
fn parse_timestamp(s: &str) -> f64 {
    value::parse_timestamp(black_box(s)).unwrap_or(f64::NAN)
}

#[divan::bench]
fn parse_resource_name() -> Option<String> {
    value::parse_resource_name(black_box("CHANNEL_SUBSCRIPTION,"))
}

const LIVEDATA: &[u8] = include_bytes!("../tests/fixtures/roma_livedata.json");
const APP_QUOTA: &[u8] = include_bytes!("../tests/fixtures/roma_app_quota.json");
const APP_QUOTA_LIST: &[u8] = include_bytes!("../tests/fixtures/roma_app_quotas_list.json");
const EVENTGRID: &[u8] = include_bytes!("../tests/fixtures/eventgrid_quotas.json");
const GAUSSDB: &[u8] = include_bytes!("../tests/fixtures/gaussdb_project_quotas.json");
const ERROR_APIG: &[u8] = include_bytes!("../tests/fixtures/error_apig.json");
const ERROR_HTML: &[u8] = include_bytes!("../tests/fixtures/error_html.html");

#[divan::bench_group]
mod decoders {
    use super::*;
    use huaweicloud_quota_exporter::upstream::decode::decode_error_body;

    #[divan::bench]
    fn roma_livedata(b: Bencher) {
        b.counter(divan::counter::BytesCount::of_slice(LIVEDATA))
            .bench(|| roma::decode_livedata(black_box(LIVEDATA)).is_ok());
    }

    #[divan::bench]
    fn roma_app_quota(b: Bencher) {
        b.counter(divan::counter::BytesCount::of_slice(APP_QUOTA))
            .bench(|| roma::decode_app_quota(black_box(APP_QUOTA)).is_ok());
    }

    #[divan::bench]
    fn roma_app_quota_page(b: Bencher) {
        b.counter(divan::counter::BytesCount::of_slice(APP_QUOTA_LIST))
            .bench(|| roma::decode_app_quota_page(black_box(APP_QUOTA_LIST)).is_ok());
    }

    #[divan::bench]
    fn eventgrid_quotas(b: Bencher) {
        b.counter(divan::counter::BytesCount::of_slice(EVENTGRID))
            .bench(|| eventgrid::decode_quotas(black_box(EVENTGRID)).is_ok());
    }

    #[divan::bench]
    fn gaussdb_project_quotas(b: Bencher) {
        b.counter(divan::counter::BytesCount::of_slice(GAUSSDB))
            .bench(|| gaussdb::decode_project_quotas(black_box(GAUSSDB)).is_ok());
    }

    #[divan::bench]
    fn error_body_apig() -> bool {
        decode_error_body(black_box(ERROR_APIG)).code.is_some()
    }

    #[divan::bench]
    fn error_body_html() -> bool {
        decode_error_body(black_box(ERROR_HTML)).code.is_some()
    }
}
