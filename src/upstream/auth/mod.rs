//! Authentication of upstream requests, for every credential kind.
//!
//! A static token goes in `X-Auth-Token`; AK/SK signs each request ([`aksk`]); an IAM
//! password credential gets a project-scoped token from IAM ([`iam`]). Requests are
//! authorised right before each send, so signatures carry the current time and a token
//! refreshed after a 401 is picked up by the retry.

pub mod aksk;
pub mod files;
pub mod iam;
pub mod temporary;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderValue;

use super::transport::Transport;
use crate::config::{Credential, NamedCredential, Project, Secret};
use crate::model::credentials::CredentialBoard;
use crate::model::outcome::{ErrorCode, PollError};

/// What was put on a request; tells the caller whether a 401 is worth a refresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A static token: nothing to refresh.
    StaticToken,
    /// An AK/SK signature: a 401 is a signature or key problem, never retried.
    Signed,
    /// An IAM token, which can be refreshed once after a 401.
    IamToken(Secret),
    /// Temporary keys, which can be refreshed once after a 401.
    Temporary(Arc<temporary::TemporaryKeys>),
}

/// Adds credentials to outgoing requests; owns the IAM token cache.
#[derive(Debug)]
pub struct Authenticator {
    transport: Arc<Transport>,
    tokens: iam::TokenCache,
    temporary: temporary::TemporaryCache,
    files: files::FileSecrets,
    board: Arc<CredentialBoard>,
}

fn sign_error(credential: &str) -> PollError {
    PollError::local(
        ErrorCode::Auth,
        format!("credential `{credential}` holds characters not allowed in an HTTP header"),
    )
}

fn token_header(value: &str, credential: &str) -> Result<HeaderValue, PollError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        PollError::local(
            ErrorCode::Auth,
            format!("the token of credential `{credential}` contains characters not allowed in an HTTP header"),
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

impl Authenticator {
    /// An authenticator sending its IAM requests through `transport`.
    pub fn new(transport: Arc<Transport>) -> Self {
        let board = Arc::new(CredentialBoard::default());
        Authenticator {
            transport,
            tokens: iam::TokenCache::new(board.clone()),
            temporary: temporary::TemporaryCache::new(board.clone()),
            files: files::FileSecrets::default(),
            board,
        }
    }

    /// The state of every configured credential, as refreshes go (the landing page's).
    pub fn board(&self) -> &Arc<CredentialBoard> {
        &self.board
    }

    /// The temporary keys of an `ecs_metadata`, `pod_identity` or `oidc` credential
    /// (cached, shared, refreshed ahead of expiry): for requests signed elsewhere, such as
    /// discovery's calls to the global IAM.
    pub async fn temporary_keys(
        &self,
        credential: &NamedCredential,
        timeout: Duration,
    ) -> Result<Arc<temporary::TemporaryKeys>, PollError> {
        self.temporary
            .keys(&self.transport, credential, timeout)
            .await
    }

    /// The current value of a secret that may come from a file (`*_file`): the file's
    /// content once it changed, else `value`.
    pub fn file_secret(
        &self,
        key: &str,
        path: &Option<std::path::PathBuf>,
        value: &Secret,
    ) -> Secret {
        match path {
            Some(p) => self.files.current(key, p, value),
            None => value.clone(),
        }
    }

    /// Authorises `req` for `project`.
    pub async fn authorize(
        &self,
        credential: &NamedCredential,
        project: &Project,
        req: &mut reqwest::Request,
        timeout: Duration,
    ) -> Result<Applied, PollError> {
        let f = &credential.files;
        match &credential.credential {
            Credential::Token { token } => {
                let token = self.file_secret("token", &f.token, token);
                req.headers_mut().insert(
                    "x-auth-token",
                    token_header(token.expose(), &credential.name)?,
                );
                Ok(Applied::StaticToken)
            }
            Credential::AkSk {
                access_key,
                secret_key,
                security_token,
            } => {
                let access_key =
                    self.file_secret("access_key", &f.access_key, &Secret::new(access_key));
                let secret_key = self.file_secret("secret_key", &f.secret_key, secret_key);
                let security_token = security_token
                    .as_ref()
                    .map(|t| self.file_secret("security_token", &f.security_token, t));
                aksk::sign_request(
                    req,
                    access_key.expose(),
                    secret_key.expose(),
                    security_token.as_ref().map(Secret::expose),
                    &project.id,
                    SystemTime::now(),
                )
                .map_err(|_| sign_error(&credential.name))?;
                Ok(Applied::Signed)
            }
            Credential::EcsMetadata { .. }
            | Credential::PodIdentity { .. }
            | Credential::Oidc { .. } => {
                let keys = self.temporary_keys(credential, timeout).await?;
                aksk::sign_request(
                    req,
                    &keys.access_key,
                    keys.secret_key.expose(),
                    Some(keys.security_token.expose()),
                    &project.id,
                    SystemTime::now(),
                )
                .map_err(|_| sign_error(&credential.name))?;
                Ok(Applied::Temporary(keys))
            }
            Credential::IamPassword { .. } => {
                let token = self.iam_token(credential, project, timeout).await?;
                req.headers_mut().insert(
                    "x-auth-token",
                    token_header(token.expose(), &credential.name)?,
                );
                Ok(Applied::IamToken(token))
            }
        }
    }

    /// The project-scoped IAM token of an IAM password credential (cached).
    async fn iam_token(
        &self,
        credential: &NamedCredential,
        project: &Project,
        timeout: Duration,
    ) -> Result<Secret, PollError> {
        let Credential::IamPassword {
            iam_endpoint,
            domain,
            username,
            password,
        } = &credential.credential
        else {
            return Err(sign_error(&credential.name));
        };
        let password = &self.file_secret("password", &credential.files.password, password);
        self.tokens
            .token(
                &self.transport,
                iam::IamLogin {
                    credential: &credential.name,
                    endpoint: iam_endpoint,
                    domain,
                    username,
                    password,
                    project_id: &project.id,
                    timeout,
                    http: &project.http,
                },
            )
            .await
    }

    /// After a 401: drops the token that was refused, so the next authorise gets a new one.
    /// Returns whether a retry can help.
    pub async fn refused(
        &self,
        credential: &NamedCredential,
        project: &Project,
        applied: &Applied,
    ) -> bool {
        match applied {
            Applied::IamToken(used) => {
                self.tokens
                    .invalidate(&credential.name, &project.id, used)
                    .await;
                true
            }
            Applied::Temporary(used) => {
                self.temporary.invalidate(&credential.name, used).await;
                true
            }
            Applied::StaticToken | Applied::Signed => false,
        }
    }
}
