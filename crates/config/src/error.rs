//! The configuration error type: every problem found, each naming its source, what was
//! expected and how to fix it. All problems are reported at once so one edit fixes them all.

use crate::source::Origin;
use std::fmt;

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub origin: Origin,
    /// The setting, or the deploy config's dotted key, the problem is about.
    pub key: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(origin: Origin, key: Option<&'static str>, message: String, hint: Option<String>) -> Self {
        Self { origin, key: key.map(String::from), message, hint }
    }

    /// A problem about a key that is not a setting (e.g. a deploy config's `worker.replicas`).
    pub fn at_key(origin: Origin, key: impl Into<String>, message: String, hint: Option<String>) -> Self {
        Self { origin, key: Some(key.into()), message, hint }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.origin)?;
        if let Some(key) = &self.key {
            write!(f, "{key} ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Why configuration could not be loaded. (A malformed command line never gets here: clap
/// reports it, exit 64, before anything is loaded.)
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Values were given but are wrong: exit code 78 (EX_CONFIG).
    #[error("{}", render(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The sysexits code a binary should exit with.
    pub fn exit_code(&self) -> u8 {
        match self {
            ConfigError::Invalid(_) => crate::exit::CONFIG,
        }
    }

    /// The problems found, each naming its source.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
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
