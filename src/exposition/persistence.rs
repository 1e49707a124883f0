//! The persistence file's two families: whether the last write worked, and when one last did.

use super::text::{header, write_value};
use crate::model::time::unix_seconds;
use crate::store::PersistenceStatus;

/// `huaweicloud_quota_persistence_last_write_success` and `..._timestamp_seconds` (the
/// latter once a write succeeded).
pub(super) fn write_persistence(out: &mut String, p: PersistenceStatus) {
    header(
        out,
        "huaweicloud_quota_persistence_last_write_success",
        "1 if the last write of the persistence file succeeded (or, before the first, the file was writable at start), else 0.",
        "gauge",
    );
    out.push_str("huaweicloud_quota_persistence_last_write_success ");
    out.push_str(if p.last_write_ok { "1\n" } else { "0\n" });
    if let Some(at) = p.last_write {
        header(
            out,
            "huaweicloud_quota_persistence_last_write_timestamp_seconds",
            "When the persistence file was last written successfully, as Unix time.",
            "gauge",
        );
        out.push_str("huaweicloud_quota_persistence_last_write_timestamp_seconds ");
        write_value(out, unix_seconds(at));
        out.push('\n');
    }
}
