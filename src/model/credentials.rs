//! What the landing page shows of each configured credential: its kind, where it comes
//! from (URLs and file paths, never a secret) and, for the kinds that are refreshed
//! (temporary keys, IAM tokens), until when the current keys are valid, when they were
//! last refreshed, the last error (its code and when) and when the next refresh is due.
//! `upstream` writes it as it refreshes; the server reads it for every page view.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::config::{Credential, NamedCredential, redact_url_credentials};
use crate::model::outcome::PollError;

/// The last failure to refresh a credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialError {
    /// The error code (as in `api_errors_total{api="credentials"}`).
    pub code: String,
    /// What went wrong (never a secret).
    pub message: String,
    /// When.
    pub at: SystemTime,
}

/// One configured credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialState {
    /// Its key under `credentials:`.
    pub name: String,
    /// `token`, `aksk`, `iam_password`, `ecs_metadata`, `pod_identity` or `oidc`.
    pub kind: &'static str,
    /// Where it comes from: endpoint URLs (credentials redacted) and file paths.
    pub source: String,
    /// Whether it is refreshed at all (temporary keys, IAM tokens), or static.
    pub refreshed: bool,
    /// Until when the current keys (the latest IAM token) are valid.
    pub valid_until: Option<SystemTime>,
    /// When keys (a token) were last issued.
    pub last_refresh: Option<SystemTime>,
    /// When the next refresh (or the next try after a failure) is due.
    pub next_refresh: Option<SystemTime>,
    /// The last failed refresh, kept after later successes.
    pub last_error: Option<CredentialError>,
}

impl CredentialState {
    /// A credential as configured, not refreshed yet.
    pub fn configured(c: &NamedCredential) -> CredentialState {
        CredentialState {
            name: c.name.clone(),
            kind: c.credential.kind(),
            source: source(c),
            refreshed: matches!(
                c.credential,
                Credential::IamPassword { .. }
                    | Credential::EcsMetadata { .. }
                    | Credential::PodIdentity { .. }
                    | Credential::Oidc { .. }
            ),
            valid_until: None,
            last_refresh: None,
            next_refresh: None,
            last_error: None,
        }
    }

    /// Whether the last refresh failed (later than the last success).
    pub fn failing(&self) -> bool {
        match (&self.last_error, self.last_refresh) {
            (Some(e), Some(ok)) => e.at >= ok,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

fn file(label: &str, path: &Option<std::path::PathBuf>) -> Option<String> {
    path.as_deref()
        .map(|p: &Path| format!("{label} {}", p.display()))
}

/// Where `c` comes from, without a secret.
fn source(c: &NamedCredential) -> String {
    let f = &c.files;
    match &c.credential {
        Credential::Token { .. } => {
            file("token_file", &f.token).unwrap_or_else(|| "token in the config".into())
        }
        Credential::AkSk { .. } => {
            let files: Vec<String> = [
                file("access_key_file", &f.access_key),
                file("secret_key_file", &f.secret_key),
                file("security_token_file", &f.security_token),
            ]
            .into_iter()
            .flatten()
            .collect();
            if files.is_empty() {
                "keys in the config".into()
            } else {
                files.join(", ")
            }
        }
        Credential::IamPassword {
            iam_endpoint,
            domain,
            username,
            ..
        } => {
            let mut s = format!(
                "IAM {} as {username}@{domain}",
                redact_url_credentials(iam_endpoint)
            );
            if let Some(p) = file("password_file", &f.password) {
                s.push_str(", ");
                s.push_str(&p);
            }
            s
        }
        Credential::EcsMetadata { endpoint } => {
            format!("metadata service {}", redact_url_credentials(endpoint))
        }
        Credential::PodIdentity { uri, token_file } => format!(
            "{}, token_file {}",
            redact_url_credentials(uri),
            token_file.display()
        ),
        Credential::Oidc {
            agency_urn,
            id_token_file,
            sts_endpoint,
            ..
        } => format!(
            "STS {} for {agency_urn}, id_token_file {}",
            redact_url_credentials(sts_endpoint),
            id_token_file.display()
        ),
    }
}

/// The state of every configured credential, shared by the upstream client (which
/// records refreshes) and the server (which shows them).
#[derive(Debug, Default)]
pub struct CredentialBoard {
    rows: Mutex<BTreeMap<String, CredentialState>>,
}

impl CredentialBoard {
    fn rows_mut(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, CredentialState>> {
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The credentials of a (re)loaded config: those that stayed as they were keep their
    /// state, the others start afresh, the ones gone are dropped.
    pub fn configure<'a>(&self, credentials: impl IntoIterator<Item = &'a NamedCredential>) {
        let mut rows = self.rows_mut();
        let mut next = BTreeMap::new();
        for c in credentials {
            let fresh = CredentialState::configured(c);
            let row = match rows.remove(&c.name) {
                Some(old) if old.kind == fresh.kind && old.source == fresh.source => old,
                _ => fresh,
            };
            next.insert(c.name.clone(), row);
        }
        *rows = next;
    }

    /// `name` got keys (a token) valid until `valid_until`; the next refresh is due at
    /// `next_refresh`.
    pub fn refreshed(&self, name: &str, valid_until: SystemTime, next_refresh: SystemTime) {
        if let Some(r) = self.rows_mut().get_mut(name) {
            r.valid_until = Some(valid_until);
            r.last_refresh = Some(SystemTime::now());
            r.next_refresh = Some(next_refresh);
        }
    }

    /// A refresh of `name` failed with `error`; the next try is at `retry_at`.
    pub fn failed(&self, name: &str, error: &PollError, retry_at: SystemTime) {
        if let Some(r) = self.rows_mut().get_mut(name) {
            r.last_error = Some(CredentialError {
                code: error.code.to_string(),
                message: error.message.clone(),
                at: SystemTime::now(),
            });
            r.next_refresh = Some(retry_at);
        }
    }

    /// Every configured credential, by name.
    pub fn rows(&self) -> Vec<CredentialState> {
        self.rows_mut().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, SecretFiles};
    use crate::model::outcome::ErrorCode;
    use std::time::Duration;

    fn named(name: &str, credential: Credential) -> NamedCredential {
        NamedCredential {
            name: name.into(),
            credential,
            files: SecretFiles::default(),
        }
    }

    #[test]
    fn rows_follow_the_config_and_record_refreshes_and_failures() {
        let board = CredentialBoard::default();
        let ecs = named(
            "on-ecs",
            Credential::EcsMetadata {
                endpoint: "http://169.254.169.254".into(),
            },
        );
        let tok = named(
            "tok",
            Credential::Token {
                token: Secret::new("s3cret"),
            },
        );
        board.configure([&ecs, &tok]);
        let rows = board.rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].source, "metadata service http://169.254.169.254");
        assert!(rows[0].refreshed && !rows[1].refreshed);
        assert!(!format!("{rows:?}").contains("s3cret"));
        let later = SystemTime::now() + Duration::from_secs(600);
        board.refreshed("on-ecs", later, later);
        let e = PollError::local(ErrorCode::Status(429), "429 Too Many Requests");
        board.failed("on-ecs", &e, later);
        let r = &board.rows()[0];
        assert!(r.failing());
        assert_eq!(
            r.last_error.as_ref().map(|e| e.code.as_str()),
            Some("http_429")
        );
        board.refreshed("on-ecs", later, later);
        assert!(!board.rows()[0].failing(), "recovered");
        // A reload keeps the state of an unchanged credential, drops the removed one.
        board.configure([&ecs]);
        let rows = board.rows();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].last_error.is_some());
    }
}
