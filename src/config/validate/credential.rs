//! The `credentials:` entries: which kind each is (by its keys), one method per kind, and
//! the values they hold (plain, secret inline with `${VAR}`, or secret in a `*_file`).

use serde_saphyr::Spanned;

use super::Validator;
use crate::config::file::FileCredential;
use crate::config::resolved::Credential;
use crate::config::secrets::{self, Secret};
use crate::diag::{Pos, at};

/// The three kinds of credential, told apart by their keys.
enum CredentialKind {
    /// `token` or `token_file`.
    Token,
    /// `access_key` with `secret_key` (and optionally `security_token`).
    AkSk,
    /// `iam_endpoint`, `domain`, `username` and `password`.
    IamPassword,
}

impl Validator<'_> {
    /// One entry under `credentials:`.
    pub(super) fn credential(&mut self, name: &str, c: &FileCredential) -> Option<Credential> {
        let pos = [
            &c.token,
            &c.token_file,
            &c.access_key,
            &c.secret_key,
            &c.secret_key_file,
            &c.iam_endpoint,
            &c.domain,
            &c.username,
            &c.password,
            &c.password_file,
        ]
        .into_iter()
        .flatten()
        .map(at)
        .min()
        .unwrap_or((0, 0));
        match self.credential_kind(name, c, pos)? {
            CredentialKind::Token => self.token(name, c, pos),
            CredentialKind::AkSk => self.aksk(name, c, pos),
            CredentialKind::IamPassword => self.iam_password(name, c, pos),
        }
    }

    /// Which kind a credential is, by the keys it sets; exactly one kind is allowed.
    fn credential_kind(
        &mut self,
        name: &str,
        c: &FileCredential,
        pos: Pos,
    ) -> Option<CredentialKind> {
        let is_token = c.token.is_some() || c.token_file.is_some();
        let is_aksk = c.access_key.is_some()
            || c.secret_key.is_some()
            || c.secret_key_file.is_some()
            || c.security_token.is_some()
            || c.security_token_file.is_some();
        let is_iam = c.iam_endpoint.is_some()
            || c.domain.is_some()
            || c.username.is_some()
            || c.password.is_some()
            || c.password_file.is_some();
        let kinds = [
            (is_token, CredentialKind::Token, "a static token"),
            (is_aksk, CredentialKind::AkSk, "AK/SK keys"),
            (is_iam, CredentialKind::IamPassword, "IAM password keys"),
        ];
        let mut present: Vec<_> = kinds.into_iter().filter(|k| k.0).collect();
        match present.len() {
            0 => {
                self.diag.issue(
                    pos,
                    format!(
                        "credential `{name}` is empty: expected `token`, or `access_key` + `secret_key`, or `iam_endpoint` + `domain` + `username` + `password`"
                    ),
                );
                None
            }
            1 => present.pop().map(|k| k.1),
            _ => {
                let which: Vec<&str> = present.iter().map(|k| k.2).collect();
                self.diag.issue(
                    pos,
                    format!(
                        "credential `{name}` is ambiguous: it mixes {}; keep the keys of one kind only",
                        which.join(" and ")
                    ),
                );
                None
            }
        }
    }

    /// A static token credential.
    fn token(&mut self, name: &str, c: &FileCredential, pos: Pos) -> Option<Credential> {
        let token = self.secret(name, "token", &c.token, &c.token_file, true, pos)?;
        Some(Credential::Token { token: token? })
    }

    /// An AK/SK credential.
    fn aksk(&mut self, name: &str, c: &FileCredential, pos: Pos) -> Option<Credential> {
        let ak = self.plain(name, "access_key", &c.access_key, pos);
        let sk = self.secret(
            name,
            "secret_key",
            &c.secret_key,
            &c.secret_key_file,
            true,
            pos,
        );
        let st = self.secret(
            name,
            "security_token",
            &c.security_token,
            &c.security_token_file,
            false,
            pos,
        );
        Some(Credential::AkSk {
            access_key: ak?,
            secret_key: sk??,
            security_token: st?,
        })
    }

    /// An IAM user and password credential.
    fn iam_password(&mut self, name: &str, c: &FileCredential, pos: Pos) -> Option<Credential> {
        let endpoint = self.plain(name, "iam_endpoint", &c.iam_endpoint, pos);
        let endpoint = match (endpoint, &c.iam_endpoint) {
            (Some(e), Some(s)) => self.url(&e, at(s), "iam_endpoint"),
            _ => None,
        };
        let domain = self.plain(name, "domain", &c.domain, pos);
        let username = self.plain(name, "username", &c.username, pos);
        let password = self.secret(name, "password", &c.password, &c.password_file, true, pos);
        Some(Credential::IamPassword {
            iam_endpoint: endpoint?,
            domain: domain?,
            username: username?,
            password: password??,
        })
    }

    /// A required non-secret value (may use `${ENV}`).
    fn plain(
        &mut self,
        name: &str,
        key: &str,
        v: &Option<Spanned<String>>,
        pos: Pos,
    ) -> Option<String> {
        match v {
            None => {
                self.diag
                    .issue(pos, format!("credential `{name}` is missing `{key}`"));
                None
            }
            Some(s) => self.expand(name, key, s),
        }
    }

    /// A secret given inline (with `${ENV}`) or as `{key}_file`. `Some(None)` means
    /// "not given and not required"; `None` means an error was recorded.
    fn secret(
        &mut self,
        name: &str,
        key: &str,
        inline: &Option<Spanned<String>>,
        file: &Option<Spanned<String>>,
        required: bool,
        pos: Pos,
    ) -> Option<Option<Secret>> {
        match (inline, file) {
            (Some(s), Some(_)) => {
                self.diag.issue(
                    at(s),
                    format!("credential `{name}` sets both `{key}` and `{key}_file`: keep one"),
                );
                None
            }
            (Some(s), None) => self.expand(name, key, s).map(|v| Some(Secret::new(v))),
            (None, Some(f)) => {
                let path = self.diag.path(f.value.trim());
                secrets::read_file(key, &path, self.secrets)
                    .map_err(|e| self.diag.issue(at(f), e.to_string()))
                    .ok()
                    .map(Some)
            }
            (None, None) if required => {
                self.diag.issue(
                    pos,
                    format!("credential `{name}` is missing `{key}` (or `{key}_file`)"),
                );
                None
            }
            (None, None) => Some(None),
        }
    }

    /// Expands `${VAR}` references; the value itself is never put in a message.
    fn expand(&mut self, name: &str, key: &str, s: &Spanned<String>) -> Option<String> {
        secrets::expand(&s.value, self.secrets)
            .map_err(|e| {
                self.diag
                    .issue(at(s), format!("credential `{name}`: `{key}` {e}"))
            })
            .ok()
    }
}
