//! The configuration error type: every problem found, each naming its source, what was
//! expected and how to fix it. All problems are reported at once so one edit fixes them all.

use crate::source::Origin;
use std::fmt;

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub origin: Origin,
    pub key: Option<&'static str>,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(origin: Origin, key: Option<&'static str>, message: String, hint: Option<String>) -> Self {
        Self { origin, key, message, hint }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.origin)?;
        if let Some(key) = self.key {
            write!(f, "{key} ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Values were given but are wrong: exit code 78 (EX_CONFIG).
    #[error("{}", render(.0))]
    Invalid(Vec<Problem>),
    /// The command line itself is malformed: exit code 64 (EX_USAGE).
    #[error("{0}")]
    Usage(String),
}

impl ConfigError {
    /// The sysexits code a binary should exit with.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Invalid(_) => 78,
            ConfigError::Usage(_) => 64,
        }
    }
}

fn render(problems: &[Problem]) -> String {
    let n = problems.len();
    let mut out = format!("invalid configuration ({n} problem{})", if n == 1 { "" } else { "s" });
    for p in problems {
        out.push_str("\n- ");
        out.push_str(&p.to_string().replace('\n', "\n  "));
    }
    out
}
