//! The `credentials:` entries: which kind each is (by its keys), one method per kind, and
//! the values they hold (plain, secret inline with `${VAR}`, or secret in a `*_file`).

use serde_saphyr::Spanned;

use super::Validator;
use crate::config::file::FileCredential;
use crate::config::resolved::{Credential, SecretFiles};
use crate::config::secrets::{self, Secret};
use crate::diag::{Pos, at};

/// Default ECS/BMS metadata service.
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://169.254.169.254";
/// Default STS endpoint of `oidc`.
pub const DEFAULT_STS_ENDPOINT: &str = "https://sts.cn-north-4.myhuaweicloud.com";
/// Default lifetime asked for by `oidc`.
pub const DEFAULT_OIDC_DURATION: std::time::Duration = std::time::Duration::from_secs(3600);

/// The kinds of credential, told apart by their keys.
enum CredentialKind {
    /// `ecs_metadata: {...}`.
    EcsMetadata,
    /// `pod_identity: {...}`.
    PodIdentity,
    /// `oidc: {...}`.
    Oidc,
    /// `token` or `token_file`.
    Token,
    /// `access_key` with `secret_key` (and optionally `security_token`).
    AkSk,
    /// `iam_endpoint`, `domain`, `username` and `password`.
    IamPassword,
}

impl Validator<'_> {
    /// One entry under `credentials:`.
    pub(super) fn credential(
        &mut self,
        name: &str,
        c: &FileCredential,
    ) -> Option<(Credential, SecretFiles)> {
        let nested = [
            c.ecs_metadata.as_ref().map(at),
            c.pod_identity.as_ref().map(at),
            c.oidc.as_ref().map(at),
        ];
        let pos = [
            &c.token,
            &c.token_file,
            &c.access_key,
            &c.access_key_file,
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
        .chain(nested.into_iter().flatten())
        .min()
        .unwrap_or((0, 0));
        let files = SecretFiles {
            token: self.file_path(&c.token_file),
            access_key: self.file_path(&c.access_key_file),
            secret_key: self.file_path(&c.secret_key_file),
            security_token: self.file_path(&c.security_token_file),
            password: self.file_path(&c.password_file),
        };
        let credential = match self.credential_kind(name, c, pos)? {
            CredentialKind::Token => self.token(name, c, pos),
            CredentialKind::AkSk => self.aksk(name, c, pos),
            CredentialKind::IamPassword => self.iam_password(name, c, pos),
            CredentialKind::EcsMetadata => self.ecs_metadata(c),
            CredentialKind::PodIdentity => self.pod_identity(name, c),
            CredentialKind::Oidc => self.oidc(name, c),
        }?;
        Some((credential, files))
    }

    /// The resolved path of a `*_file` key.
    fn file_path(&self, f: &Option<Spanned<String>>) -> Option<std::path::PathBuf> {
        f.as_ref().map(|f| self.diag.path(f.value.trim()))
    }

    /// An optional URL (with `${ENV}`), or `default`.
    fn url_or(
        &mut self,
        name: &str,
        key: &str,
        v: &Option<Spanned<String>>,
        default: Option<String>,
        pos: Pos,
    ) -> Option<String> {
        match v {
            Some(s) => {
                let raw = self.expand(name, key, s)?;
                self.url(&raw, at(s), key)
            }
            None => match default {
                Some(d) => self.url(&d, pos, key),
                None => {
                    self.diag
                        .issue(pos, format!("credential `{name}` is missing `{key}`"));
                    None
                }
            },
        }
    }

    /// `ecs_metadata: {endpoint?}`.
    fn ecs_metadata(&mut self, c: &FileCredential) -> Option<Credential> {
        let m = c.ecs_metadata.as_ref()?;
        let endpoint = self.url_or(
            "ecs_metadata",
            "ecs_metadata.endpoint",
            &m.value.endpoint,
            Some(DEFAULT_METADATA_ENDPOINT.into()),
            at(m),
        )?;
        Some(Credential::EcsMetadata {
            endpoint: endpoint.trim_end_matches('/').to_string(),
        })
    }

    /// `pod_identity: {uri?, token_file?}`, defaults from the CCE environment.
    fn pod_identity(&mut self, name: &str, c: &FileCredential) -> Option<Credential> {
        let p = c.pod_identity.as_ref()?;
        let pos = at(p);
        let env_uri = self.secrets.env("HC_CONTAINER_CREDENTIALS_FULL_URI");
        let uri = match (&p.value.uri, env_uri) {
            (None, None) => {
                self.diag.issue(
                    pos,
                    format!("credential `{name}`: `pod_identity` needs `uri`, or HC_CONTAINER_CREDENTIALS_FULL_URI set (CCE sets it when pod identity is enabled)"),
                );
                None
            }
            (u, d) => self.url_or(name, "pod_identity.uri", u, d, pos),
        };
        let env_file = self.secrets.env("HC_CONTAINER_AUTHORIZATION_TOKEN_FILE");
        let token_file = match (&p.value.token_file, env_file) {
            (Some(f), _) => Some(self.diag.path(f.value.trim())),
            (None, Some(f)) if !f.trim().is_empty() => Some(self.diag.path(f.trim())),
            (None, _) => {
                self.diag.issue(
                    pos,
                    format!("credential `{name}`: `pod_identity` needs `token_file`, or HC_CONTAINER_AUTHORIZATION_TOKEN_FILE set"),
                );
                None
            }
        };
        Some(Credential::PodIdentity {
            uri: uri?,
            token_file: token_file?,
        })
    }

    /// `oidc: {provider_urn, agency_urn, id_token_file, sts_endpoint?, duration?}`.
    fn oidc(&mut self, name: &str, c: &FileCredential) -> Option<Credential> {
        let o = c.oidc.as_ref()?;
        let pos = at(o);
        let provider = self.plain(name, "oidc.provider_urn", &o.value.provider_urn, pos);
        let agency = self.plain(name, "oidc.agency_urn", &o.value.agency_urn, pos);
        for (v, key, kind) in [
            (&provider, &o.value.provider_urn, ":identityProvider:"),
            (&agency, &o.value.agency_urn, ":agency:"),
        ] {
            if let (Some(v), Some(s)) = (v, key)
                && !(v.starts_with("iam::") && v.contains(kind))
            {
                self.diag.issue(
                    at(s),
                    format!("credential `{name}`: `{v}` is not a URN like `iam::<account id>{kind}<name>`"),
                );
            }
        }
        let id_token_file = match &o.value.id_token_file {
            Some(f) => Some(self.diag.path(f.value.trim())),
            None => {
                self.diag.issue(
                    pos,
                    format!("credential `{name}` is missing `oidc.id_token_file`"),
                );
                None
            }
        };
        let sts = self.url_or(
            name,
            "oidc.sts_endpoint",
            &o.value.sts_endpoint,
            Some(DEFAULT_STS_ENDPOINT.into()),
            pos,
        );
        let duration = o
            .value
            .duration
            .as_ref()
            .map_or(DEFAULT_OIDC_DURATION, |d| d.value.0);
        if !(900..=43_200).contains(&duration.as_secs()) {
            let p = o.value.duration.as_ref().map_or(pos, at);
            self.diag.issue(
                p,
                format!("credential `{name}`: `oidc.duration` must be from 15m to 12h"),
            );
        }
        Some(Credential::Oidc {
            provider_urn: provider?,
            agency_urn: agency?,
            id_token_file: id_token_file?,
            sts_endpoint: sts?.trim_end_matches('/').to_string(),
            duration,
        })
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
            || c.access_key_file.is_some()
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
            (
                c.ecs_metadata.is_some(),
                CredentialKind::EcsMetadata,
                "`ecs_metadata`",
            ),
            (
                c.pod_identity.is_some(),
                CredentialKind::PodIdentity,
                "`pod_identity`",
            ),
            (c.oidc.is_some(), CredentialKind::Oidc, "`oidc`"),
        ];
        let mut present: Vec<_> = kinds.into_iter().filter(|k| k.0).collect();
        match present.len() {
            0 => {
                self.diag.issue(
                    pos,
                    format!(
                        "credential `{name}` is empty: expected `token`, or `access_key` + `secret_key`, or `iam_endpoint` + `domain` + `username` + `password`, or `ecs_metadata`, `pod_identity` or `oidc`"
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
        let ak = self
            .secret(
                name,
                "access_key",
                &c.access_key,
                &c.access_key_file,
                true,
                pos,
            )
            .map(|v| v.map(|s| s.expose().to_string()));
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
            access_key: ak??,
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
