//! Authentication of upstream requests: one [`Authenticator`] per named credential.
//!
//! A static token is put in `X-Auth-Token`. AK/SK signing and IAM password tokens
//! plug in here as further [`Credential`] kinds without changing the callers.

use crate::config::{Credential, NamedCredential, Project};
use crate::upstream::PollError;

/// Adds credentials to outgoing requests.
#[derive(Debug, Default)]
pub struct Authenticator {}

impl Authenticator {
    /// A new authenticator.
    pub fn new() -> Self {
        Authenticator {}
    }

    /// Authorises `req` for `project`. Called right before each send (also on retries),
    /// so time-dependent signatures and refreshed tokens are always current.
    pub async fn authorize(
        &self,
        credential: &NamedCredential,
        project: &Project,
        req: &mut reqwest::Request,
    ) -> Result<(), PollError> {
        let _ = project;
        match &credential.credential {
            Credential::Token { token } => {
                let value = reqwest::header::HeaderValue::from_str(token.expose()).map_err(|_| {
                    PollError::local(
                        "auth",
                        format!(
                            "the token of credential `{}` contains characters not allowed in an HTTP header",
                            credential.name
                        ),
                    )
                })?;
                let mut value = value;
                value.set_sensitive(true);
                req.headers_mut().insert("x-auth-token", value);
                Ok(())
            }
            other => Err(PollError::local(
                "auth",
                format!(
                    "credential `{}` of kind {} is not supported by this build",
                    credential.name,
                    other.kind()
                ),
            )),
        }
    }
}
