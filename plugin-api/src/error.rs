//! The error that crosses the plugin boundary as data.

use serde::{Deserialize, Serialize};

/// An error as data: a stable code, a message, and what to do about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PluginError {
    /// Stable, machine-readable kind, e.g. `panic`, `invalid_options`, `host`, `cancelled`.
    pub code: String,
    /// What went wrong, lowercase, no full stop.
    pub message: String,
    /// What the user can do about it.
    #[serde(default)]
    pub help: Option<String>,
}

impl PluginError {
    /// An error with a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        PluginError {
            code: code.into(),
            message: message.into(),
            help: None,
        }
    }

    /// Adds a hint saying what to do.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Decodes an error sent as JSON; anything else becomes a `garbage` error carrying the text.
    pub fn from_wire(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_else(|_| PluginError::new("garbage", text))
    }

    /// Encodes the error as JSON for the wire.
    pub fn to_wire(&self) -> String {
        serde_json::to_string(self).expect("plugin error serializes")
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PluginError {}
