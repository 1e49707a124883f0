//! `app-quota create`: creates a ROMA Connect client quota with the config's credentials.
//!
//! Every field is checked locally with the API's own rules first, so an invalid request is
//! explained and never sent.

use std::fmt::Write as _;

use serde::Serialize;

use crate::upstream::decode::value::TimeUnit;

/// The body of `POST /v2/{project_id}/apic/instances/{instance_id}/app-quotas`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewAppQuota {
    /// 3-255 letters, digits and `_`, starting with a letter.
    pub name: String,
    /// Calls per window, 1..=2147483647.
    pub call_limits: i64,
    /// `SECOND`, `MINUTE`, `HOUR` (or the documented `HOURE`), `DAY`.
    pub time_unit: String,
    /// Window length in `time_unit`s, 1..=2147483647.
    pub time_interval: i64,
    /// First reset, `YYYY-MM-DD HH:MM:SS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_time: Option<String>,
    /// At most 255 characters, no `<` or `>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
}

const MAX_INT: i64 = 2_147_483_647;

impl NewAppQuota {
    /// Every rule the API applies; returns all violations, each saying what is allowed.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let n = self.name.chars().count();
        if !(3..=255).contains(&n) {
            problems.push(format!(
                "--name must be 3 to 255 characters long (it has {n})"
            ));
        }
        if !self
            .name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        {
            problems.push("--name must start with a letter".to_string());
        }
        if let Some(bad) = self
            .name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
        {
            problems.push(format!(
                "--name may contain only letters, digits and `_` (found {bad:?})"
            ));
        }
        for (flag, v) in [
            ("--call-limits", self.call_limits),
            ("--time-interval", self.time_interval),
        ] {
            if !(1..=MAX_INT).contains(&v) {
                problems.push(format!("{flag} must be between 1 and {MAX_INT} (got {v})"));
            }
        }
        if TimeUnit::parse(&self.time_unit).is_err() {
            problems.push(format!(
                "--time-unit must be SECOND, MINUTE, HOUR (or HOURE) or DAY (got {:?})",
                self.time_unit
            ));
        }
        if let Some(r) = &self.reset_time {
            let format =
                time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
            if time::PrimitiveDateTime::parse(r, format).is_err() {
                problems.push(format!(
                    "--reset-time must look like 2020-09-20 00:00:00 (YYYY-MM-DD HH:MM:SS; got {r:?})"
                ));
            }
        }
        if let Some(r) = &self.remark {
            let n = r.chars().count();
            if n > 255 {
                problems.push(format!(
                    "--remark may have at most 255 characters (it has {n})"
                ));
            }
            if r.contains('<') || r.contains('>') {
                problems.push("--remark must not contain `<` or `>`".to_string());
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// Explains validation problems as one message.
pub fn describe_problems(problems: &[String]) -> String {
    let mut s = String::from("the client quota was not created (nothing was sent):\n");
    for p in problems {
        let _ = writeln!(s, "  - {p}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> NewAppQuota {
        NewAppQuota {
            name: "ClientQuota_demo".into(),
            call_limits: 1000,
            time_unit: "DAY".into(),
            time_interval: 1,
            reset_time: Some("2020-09-20 00:00:00".into()),
            remark: Some("nightly batch".into()),
        }
    }

    #[test]
    fn the_seed_example_is_valid_and_serialises_like_the_docs() {
        let q = good();
        assert_eq!(q.validate(), Ok(()));
        let json = serde_json::to_value(&q).expect("json");
        assert_eq!(json["call_limits"], 1000);
        assert_eq!(json["reset_time"], "2020-09-20 00:00:00");
        let mut bare = good();
        bare.reset_time = None;
        bare.remark = None;
        let text = serde_json::to_string(&bare).expect("json");
        assert!(
            !text.contains("reset_time") && !text.contains("remark"),
            "{text}"
        );
    }

    #[test]
    fn every_rule_is_checked() {
        type Change = Box<dyn Fn(&mut NewAppQuota)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|q| q.name = "ab".into()), "3 to 255 characters"),
            (
                Box::new(|q| q.name = "a".repeat(256)),
                "3 to 255 characters",
            ),
            (Box::new(|q| q.name = "1abc".into()), "start with a letter"),
            (Box::new(|q| q.name = "_abc".into()), "start with a letter"),
            (
                Box::new(|q| q.name = "ab-c".into()),
                "only letters, digits and `_`",
            ),
            (
                Box::new(|q| q.name = "abc d".into()),
                "only letters, digits and `_`",
            ),
            (
                Box::new(|q| q.call_limits = 0),
                "--call-limits must be between 1 and 2147483647",
            ),
            (
                Box::new(|q| q.call_limits = 2_147_483_648),
                "--call-limits must be between",
            ),
            (
                Box::new(|q| q.time_interval = -1),
                "--time-interval must be between",
            ),
            (
                Box::new(|q| q.time_unit = "WEEK".into()),
                "--time-unit must be",
            ),
            (
                Box::new(|q| q.reset_time = Some("2020-09-20T00:00:00Z".into())),
                "--reset-time must look like",
            ),
            (
                Box::new(|q| q.reset_time = Some("2020-13-01 00:00:00".into())),
                "--reset-time must look like",
            ),
            (
                Box::new(|q| q.remark = Some("x".repeat(256))),
                "at most 255",
            ),
            (
                Box::new(|q| q.remark = Some("<script>".into())),
                "must not contain",
            ),
        ];
        for (change, want) in cases {
            let mut q = good();
            change(&mut q);
            let problems = q.validate().expect_err("must be rejected");
            assert!(
                problems.iter().any(|p| p.contains(want)),
                "{want}: {problems:?}"
            );
        }
        for unit in ["SECOND", "MINUTE", "HOUR", "HOURE", "DAY"] {
            let mut q = good();
            q.time_unit = unit.into();
            assert_eq!(q.validate(), Ok(()), "{unit}");
        }
        let mut q = good();
        q.name = "abc".into();
        q.call_limits = 2_147_483_647;
        q.remark = Some("x".repeat(255));
        assert_eq!(q.validate(), Ok(()));
    }
}
