//! Property-based fuzzing of everything that reads upstream bytes: the value parser and
//! every response decoder. None may panic, whatever arrives; decoded figures are finite.
//!
//! Case count: `FUZZ_CASES` per target (default 170,000; the six targets together run
//! more than a million cases in `scripts/test.sh`). Run longer with, for example,
//! `FUZZ_CASES=10000000 cargo test --release --test fuzz`.

use huaweicloud_quota_exporter::model::poll::PollOutput;
use huaweicloud_quota_exporter::upstream::decode as error;
use huaweicloud_quota_exporter::upstream::decode::value;
use huaweicloud_quota_exporter::upstream::{eventgrid, gaussdb, roma};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(170_000)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Strings that look like the quirky numbers upstream sends, and worse.
fn numberish() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,12}",
        "[ ]{0,2}-?[0-9]{1,6}(\\.[0-9]{0,4})?[,]{0,2}[ ]{0,2}",
        "[0-9]{1,3}(,[0-9]{3}){0,3}",
        "[0-9eE+\\-., x]{0,12}",
        "\\PC{0,8}",
        Just("NaN".to_string()),
        Just("1e400".to_string()),
        Just("-0".to_string()),
    ]
}

/// A JSON value for one field: a number, a quirky string, null, bool, or a nested thing.
fn field() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        numberish().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object(keys: &'static [&'static str]) -> impl Strategy<Value = serde_json::Value> {
    prop::collection::vec((prop::sample::select(keys), field()), 0..keys.len() + 2).prop_map(|kv| {
        serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    })
}

const RESOURCE_KEYS: &[&str] = &["name", "type", "max", "min", "quota", "used"];
const APP_QUOTA_KEYS: &[&str] = &[
    "app_quota_id",
    "name",
    "call_limits",
    "time_unit",
    "time_interval",
    "remark",
    "reset_time",
    "create_time",
    "bound_app_num",
];
const LIVEDATA_KEYS: &[&str] = &[
    "api",
    "api_used",
    "datasource",
    "datasource_used",
    "scripts",
    "scripts_used",
];

/// Bodies: well-formed JSON of the right shape with fuzzed fields, that JSON truncated
/// or with a byte flipped, or arbitrary bytes.
fn body(
    shape: impl Strategy<Value = serde_json::Value> + 'static,
) -> impl Strategy<Value = Vec<u8>> {
    let json = shape
        .prop_map(|v| serde_json::to_vec(&v).unwrap_or_default())
        .boxed();
    prop_oneof![
        4 => json.clone(),
        1 => (json.clone(), any::<prop::sample::Index>()).prop_map(|(b, i)| {
            let cut = if b.is_empty() { 0 } else { i.index(b.len()) };
            b[..cut].to_vec()
        }),
        1 => (json, any::<prop::sample::Index>(), any::<u8>()).prop_map(|(mut b, i, x)| {
            if !b.is_empty() {
                let at = i.index(b.len());
                b[at] = x;
            }
            b
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn resources() -> impl Strategy<Value = serde_json::Value> {
    prop::collection::vec(object(RESOURCE_KEYS), 0..6)
        .prop_map(|r| serde_json::json!({"quotas": {"resources": r}}))
}

fn check(out: &PollOutput) -> Result<(), TestCaseError> {
    for r in &out.resources {
        for v in [r.limit, r.used, r.limit_max, r.limit_min]
            .into_iter()
            .flatten()
        {
            prop_assert!(v.is_finite(), "non-finite figure {v} in {r:?}");
        }
        prop_assert!(!r.resource.is_empty());
    }
    for c in &out.clients {
        for v in [
            c.call_limit,
            c.window_seconds,
            c.bound_apps,
            c.reset_timestamp,
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(v.is_finite(), "non-finite figure {v} in {c:?}");
        }
    }
    Ok(())
}

#[test]
fn value_parser_never_panics_and_gives_finite_numbers() {
    runner()
        .run(&field(), |v| {
            if let Ok(n) = value::parse_number(&v) {
                prop_assert!(n.is_finite());
            }
            if let Some(s) = v.as_str() {
                let _ = value::parse_timestamp(s);
                let _ = value::parse_resource_name(s);
                let _ = value::TimeUnit::parse(s);
            }
            let _ = value::parse_timestamp_value(&v);
            Ok(())
        })
        .expect("value parser");
}

#[test]
fn livedata_decoder() {
    runner()
        .run(&body(object(LIVEDATA_KEYS)), |b| {
            if let Ok(out) = roma::decode_livedata(&b) {
                check(&out)?;
            }
            Ok(())
        })
        .expect("livedata");
}

#[test]
fn app_quota_decoders() {
    let page = (
        prop::collection::vec(object(APP_QUOTA_KEYS), 0..4),
        field(),
        field(),
    )
        .prop_map(
            |(q, size, total)| serde_json::json!({"quotas": q, "size": size, "total": total}),
        );
    runner()
        .run(
            &(body(object(APP_QUOTA_KEYS)), body(page)),
            |(detail, page)| {
                if let Ok((q, _)) = roma::decode_app_quota(&detail) {
                    check(&PollOutput {
                        clients: vec![q],
                        ..PollOutput::default()
                    })?;
                }
                if let Ok(p) = roma::decode_app_quota_page(&page) {
                    check(&PollOutput {
                        clients: p.quotas,
                        ..PollOutput::default()
                    })?;
                }
                Ok(())
            },
        )
        .expect("app quotas");
}

#[test]
fn eventgrid_decoder() {
    runner()
        .run(&body(resources()), |b| {
            if let Ok(out) = eventgrid::decode_quotas(&b) {
                check(&out)?;
            }
            Ok(())
        })
        .expect("eventgrid");
}

#[test]
fn gaussdb_decoder() {
    runner()
        .run(&body(resources()), |b| {
            if let Ok(out) = gaussdb::decode_project_quotas(&b) {
                check(&out)?;
            }
            Ok(())
        })
        .expect("gaussdb");
}

#[test]
fn error_body_decoder() {
    let shapes = prop_oneof![
        object(&["error_code", "error_msg", "request_id", "error_details"]),
        object(&["code", "message"]),
        object(&["error"]).prop_map(|v| serde_json::json!({"error": v})),
    ];
    runner()
        .run(&body(shapes), |b| {
            let e = error::decode_error_body(&b);
            if let Some(m) = &e.message {
                prop_assert!(!m.contains('\n') && m.chars().count() <= 512);
            }
            Ok(())
        })
        .expect("error bodies");
}
