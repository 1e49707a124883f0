//! Upstream responses decoded: error bodies in their three dialects ([`errors`]), bodies
//! that cannot be decoded and the lenient field readers every response decoder shares
//! ([`fields`]), and the parsing of single values ([`value`]).
//!
//! The split between the two failure kinds is deliberate: a body that is not the expected
//! document fails the whole poll ([`DecodeError`], local error code `decode`), while one
//! unreadable figure only drops its own series (a [`ValueError`](crate::model::poll::ValueError)
//! in the poll output).

mod errors;
mod fields;
pub mod value;

pub use errors::{UpstreamErrorBody, decode_error_body};
pub use fields::DecodeError;
pub(crate) use fields::{
    ResourceFields, as_object, decode_resource_list, parse_json, present, push_value_error,
    read_number, read_text,
};
pub(crate) use value::json_kind;

/// Helpers the decoders' unit tests share.
#[cfg(test)]
pub(crate) mod testing {
    use super::DecodeError;
    use crate::model::poll::ResourceQuota;

    /// `json` decoded by `decoder`; a decode error fails the test, naming the input.
    pub(crate) fn decoded<T>(decoder: fn(&[u8]) -> Result<T, DecodeError>, json: &str) -> T {
        match decoder(json.as_bytes()) {
            Ok(out) => out,
            Err(e) => panic!("{json}: {e}"),
        }
    }

    /// A resource with only a limit and a usage.
    pub(crate) fn resource(name: &str, limit: Option<f64>, used: Option<f64>) -> ResourceQuota {
        ResourceQuota {
            resource: name.to_owned(),
            limit,
            used,
            ..ResourceQuota::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every fixture, decoder and error body alike.
    const FIXTURES: [&[u8]; 8] = [
        include_bytes!("../../../tests/fixtures/roma_livedata.json"),
        include_bytes!("../../../tests/fixtures/roma_app_quota.json"),
        include_bytes!("../../../tests/fixtures/roma_app_quota_created.json"),
        include_bytes!("../../../tests/fixtures/roma_app_quotas_list.json"),
        include_bytes!("../../../tests/fixtures/eventgrid_quotas.json"),
        include_bytes!("../../../tests/fixtures/gaussdb_project_quotas.json"),
        include_bytes!("../../../tests/fixtures/error_apig.json"),
        include_bytes!("../../../tests/fixtures/error_iam.json"),
    ];

    /// Feeds `input` to every decoder; a panic fails the test with the input shown.
    fn feed_all(input: &[u8]) {
        let outcome = std::panic::catch_unwind(|| {
            let _ = crate::upstream::roma::decode_livedata(input);
            let _ = crate::upstream::roma::decode_app_quota(input);
            let _ = crate::upstream::roma::decode_app_quota_page(input);
            let _ = crate::upstream::eventgrid::decode_quotas(input);
            let _ = crate::upstream::gaussdb::decode_project_quotas(input);
            let _ = decode_error_body(input);
        });
        assert!(
            outcome.is_ok(),
            "a decoder panicked on {:?}",
            String::from_utf8_lossy(input)
        );
    }

    #[test]
    fn no_decoder_panics_on_truncated_fixtures() {
        let html: &[u8] = include_bytes!("../../../tests/fixtures/error_html.html");
        for fixture in FIXTURES.iter().chain([&html]) {
            for end in 0..=fixture.len() {
                feed_all(&fixture[..end]);
            }
        }
    }

    /// Bytes that change JSON structure or meaning, plus invalid UTF-8.
    const INTERESTING: &[u8] = b"\"\\,:{}[]0123456789-+.eEnulltrue \n\xff\xc3<>";

    /// One edit of a fixture: what to do, where (modulo the length at that point), which
    /// interesting byte, and for a splice where its span starts and how long it is.
    fn edit() -> impl Strategy<Value = (u8, usize, usize, usize, usize)> {
        (
            0..4u8,
            any::<usize>(),
            0..INTERESTING.len(),
            any::<usize>(),
            0..40usize,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        #[test]
        fn no_decoder_panics_on_mutated_bytes(
            fixture in 0..FIXTURES.len(),
            edits in proptest::collection::vec(edit(), 1..=4),
        ) {
            let mut bytes = FIXTURES[fixture].to_vec();
            for (kind, at, b, from, len) in edits {
                let at = at % (bytes.len() + 1);
                let b = INTERESTING[b];
                match kind {
                    0 if at < bytes.len() => bytes[at] = b,
                    1 => bytes.insert(at, b),
                    2 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => {
                        // Splice a copy of some other span in, nesting structures.
                        let from = from % bytes.len().max(1);
                        let to = (from + len).min(bytes.len());
                        let span = bytes[from..to].to_vec();
                        bytes.splice(at..at, span);
                    }
                }
            }
            feed_all(&bytes);
        }
    }

    #[test]
    fn deep_nesting_is_a_decode_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        feed_all(deep.as_bytes());
        let deep_obj = format!("{}1{}", r#"{"quotas":"#.repeat(5_000), "}".repeat(5_000));
        feed_all(deep_obj.as_bytes());
        assert!(crate::upstream::eventgrid::decode_quotas(deep_obj.as_bytes()).is_err());
    }
}
