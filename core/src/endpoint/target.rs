//! Where load goes: an OpenAI-compatible server's base URL, the served model and the API used.

use std::fmt;

use super::EndpointError;

/// The OpenAI API a request uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `POST /v1/chat/completions` with one user message.
    Chat,
    /// `POST /v1/completions` with a prompt.
    Completions,
}

impl Api {
    /// Every API by its name.
    pub const ALL: [Api; 2] = [Api::Chat, Api::Completions];

    /// The name used on the command line and by aiperf's `--endpoint-type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Chat => "chat",
            Api::Completions => "completions",
        }
    }

    /// The request path.
    pub fn path(self) -> &'static str {
        match self {
            Api::Chat => "/v1/chat/completions",
            Api::Completions => "/v1/completions",
        }
    }

    /// Parses `chat` or `completions`.
    pub fn parse(name: &str) -> Result<Api, EndpointError> {
        Api::ALL
            .into_iter()
            .find(|api| api.as_str() == name)
            .ok_or_else(|| EndpointError::Config(format!("unknown API `{name}`; valid: chat, completions")))
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A served model behind a base URL.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// `http://host:port`, without a trailing `/` or `/v1`.
    pub base_url: String,
    /// The model name put in every request.
    pub model: String,
    /// Chat or completions.
    pub api: Api,
}

impl Target {
    /// A target at `url` (`http://host:port`, optionally ending in `/v1`).
    pub fn new(url: &str, model: &str, api: Api) -> Result<Target, EndpointError> {
        let bad = |reason: &str| EndpointError::Config(format!("bad endpoint URL `{url}`: {reason}"));
        let trimmed = url.trim().trim_end_matches('/');
        let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
        if trimmed.starts_with("https://") {
            return Err(bad(
                "https is not supported by the built-in load generator; use a plain-HTTP address (e.g. a port-forward)",
            ));
        }
        if !trimmed.starts_with("http://") {
            return Err(bad("it must start with http://, e.g. http://127.0.0.1:8000"));
        }
        let uri: hyper::Uri = trimmed.parse().map_err(|e| bad(&format!("{e}")))?;
        if uri.host().is_none() {
            return Err(bad("no host"));
        }
        if model.is_empty() {
            return Err(EndpointError::Config("the served model name is empty".into()));
        }
        Ok(Target {
            base_url: trimmed.to_string(),
            model: model.to_string(),
            api,
        })
    }

    /// The full URI of `path` (which starts with `/`).
    pub fn uri(&self, path: &str) -> hyper::Uri {
        format!("{}{path}", self.base_url)
            .parse()
            .expect("a checked base URL plus a path is a URI")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_the_base_url() {
        for url in [
            "http://127.0.0.1:8000",
            "http://127.0.0.1:8000/",
            "http://127.0.0.1:8000/v1/",
        ] {
            let target = Target::new(url, "m", Api::Chat).unwrap();
            assert_eq!(target.base_url, "http://127.0.0.1:8000");
            assert_eq!(
                target.uri(Api::Chat.path()).to_string(),
                "http://127.0.0.1:8000/v1/chat/completions"
            );
        }
    }

    #[test]
    fn rejects_what_it_cannot_reach_with_a_hint() {
        let https = Target::new("https://x:1", "m", Api::Chat).unwrap_err().to_string();
        assert!(https.contains("plain-HTTP"), "{https}");
        let bare = Target::new("127.0.0.1:8000", "m", Api::Chat).unwrap_err().to_string();
        assert!(bare.contains("http://127.0.0.1:8000"), "{bare}");
        assert!(Api::parse("embeddings")
            .unwrap_err()
            .to_string()
            .contains("chat, completions"));
    }
}
