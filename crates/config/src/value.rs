//! Turning one raw value (text from env or flags, a typed TOML value from a file) into a checked
//! [`Value`], with an error message that says what was expected. Pure: no I/O but the
//! existence checks of `File`/`Dir` settings.

use crate::spec::{Kind, Setting};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A raw value before checking, as its source gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A TOML array of strings.
    List(Vec<String>),
    /// A TOML value of a type no setting takes (table, datetime, mixed array); holds the type name.
    Other(&'static str),
}

impl Raw {
    /// How the value is quoted in messages.
    pub fn display(&self, secret: bool) -> String {
        if secret {
            return "<redacted>".into();
        }
        match self {
            Raw::Text(t) => format!("{t:?}"),
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
            Raw::Bool(b) => b.to_string(),
            Raw::List(l) => format!("{l:?}"),
            Raw::Other(kind) => format!("<{kind}>"),
        }
    }
}

/// A checked value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Duration(Duration),
    Path(PathBuf),
    Ip(IpAddr),
    List(Vec<String>),
}

impl Value {
    /// Canonical text form, as `config show` prints it.
    pub fn render(&self) -> String {
        match self {
            Value::Text(t) => t.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Duration(d) => format_duration(*d),
            Value::Path(p) => p.display().to_string(),
            Value::Ip(ip) => ip.to_string(),
            Value::List(l) => l.join(","),
        }
    }
}

/// Why a raw value was rejected: what was expected, and optionally how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub expected: String,
    pub hint: Option<String>,
}

fn reject(expected: impl Into<String>) -> Rejection {
    Rejection { expected: expected.into(), hint: None }
}

/// Check `raw` against `setting`'s kind. Relative paths are resolved against `base_dir`.
pub fn check(setting: &Setting, raw: &Raw, base_dir: &Path) -> Result<Value, Rejection> {
    match (setting.kind, raw) {
        (Kind::Text { non_empty }, Raw::Text(t)) => {
            if non_empty && t.trim().is_empty() {
                Err(reject("a non-empty string"))
            } else if t.chars().any(char::is_control) {
                Err(reject("a string without control characters"))
            } else {
                Ok(Value::Text(t.clone()))
            }
        }
        (Kind::Int { min, max }, Raw::Int(i)) => int_in_range(*i, min, max),
        (Kind::Int { min, max }, Raw::Text(t)) => match t.trim().parse::<i64>() {
            Ok(i) => int_in_range(i, min, max),
            Err(_) => Err(reject(format!("a whole number from {min} to {max}"))),
        },
        (Kind::Float { min, max, min_exclusive }, raw) => {
            let f = match raw {
                Raw::Float(f) => Some(*f),
                Raw::Int(i) => Some(*i as f64),
                Raw::Text(t) => t.trim().parse::<f64>().ok(),
                _ => None,
            };
            let low_ok = |f: f64| if min_exclusive { f > min } else { f >= min };
            match f {
                Some(f) if f.is_finite() && low_ok(f) && f <= max => Ok(Value::Float(f)),
                _ => {
                    let low = if min_exclusive { "greater than" } else { "at least" };
                    Err(reject(format!("a number {low} {min} and at most {max}")))
                }
            }
        }
        (Kind::Bool, Raw::Bool(b)) => Ok(Value::Bool(*b)),
        (Kind::Bool, Raw::Text(t)) => match t.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(reject("true or false")),
        },
        (Kind::Duration { min_ms, max_ms }, Raw::Text(t)) => {
            let expected = || {
                format!(
                    "a duration from {} to {}",
                    format_duration(Duration::from_millis(min_ms)),
                    format_duration(Duration::from_millis(max_ms))
                )
            };
            let d = parse_duration(t).ok_or_else(|| Rejection {
                expected: expected(),
                hint: Some("write a number with a unit: 500ms, 20s, 5m, 1h, 7d".into()),
            })?;
            let ms = d.as_millis();
            if ms < u128::from(min_ms) || ms > u128::from(max_ms) {
                return Err(reject(expected()));
            }
            Ok(Value::Duration(d))
        }
        (Kind::Duration { .. }, Raw::Int(_) | Raw::Float(_)) => {
            Err(Rejection { expected: "a duration string with a unit".into(), hint: Some("quote it and add a unit, e.g. \"30s\"".into()) })
        }
        (Kind::Choice(choices), Raw::Text(t)) => {
            if choices.contains(&t.as_str()) {
                Ok(Value::Text(t.clone()))
            } else {
                Err(reject(format!("one of {}", choices.join(", "))))
            }
        }
        (Kind::File, Raw::Text(t)) => {
            let path = resolve(base_dir, t);
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => match std::fs::File::open(&path) {
                    Ok(_) => Ok(Value::Path(path)),
                    Err(e) => Err(reject(format!("a readable file ({}: {e})", path.display()))),
                },
                Ok(_) => Err(reject(format!("a file, but {} is not a regular file", path.display()))),
                Err(_) => Err(Rejection {
                    expected: format!("an existing file, but {} does not exist", path.display()),
                    hint: Some("check the path, or the volume mount that should provide it".into()),
                }),
            }
        }
        (Kind::Dir, Raw::Text(t)) => {
            let path = resolve(base_dir, t);
            if path.is_dir() {
                Ok(Value::Path(path))
            } else {
                Err(Rejection {
                    expected: format!("an existing directory, but {} is not one", path.display()),
                    hint: Some("check the path, or the Secret volume mount that should provide it".into()),
                })
            }
        }
        (Kind::Ip, Raw::Text(t)) => {
            t.trim().parse::<IpAddr>().map(Value::Ip).map_err(|_| reject("an IP address such as 0.0.0.0 or 127.0.0.1"))
        }
        (Kind::Port, raw) => {
            let i = match raw {
                Raw::Int(i) => Some(*i),
                Raw::Text(t) => t.trim().parse::<i64>().ok(),
                _ => None,
            };
            match i {
                Some(i) if (0..=65535).contains(&i) => Ok(Value::Int(i)),
                _ => Err(reject("a port number from 0 to 65535")),
            }
        }
        (Kind::List, Raw::List(items)) => Ok(Value::List(items.clone())),
        (Kind::List, Raw::Text(t)) => Ok(Value::List(t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())),
        (kind, raw) => Err(reject(format!("{}, not {}", kind_name(kind), raw_type(raw)))),
    }
}

fn int_in_range(i: i64, min: i64, max: i64) -> Result<Value, Rejection> {
    if (min..=max).contains(&i) { Ok(Value::Int(i)) } else { Err(reject(format!("a whole number from {min} to {max}"))) }
}

fn resolve(base_dir: &Path, text: &str) -> PathBuf {
    let p = Path::new(text);
    if p.is_absolute() { p.to_path_buf() } else { base_dir.join(p) }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Text { .. } | Kind::Choice(_) => "a string",
        Kind::Int { .. } | Kind::Port => "a whole number",
        Kind::Float { .. } => "a number",
        Kind::Bool => "true or false",
        Kind::Duration { .. } => "a duration string",
        Kind::File | Kind::Dir => "a path string",
        Kind::Ip => "an IP address string",
        Kind::List => "a list of strings",
    }
}

fn raw_type(raw: &Raw) -> &'static str {
    match raw {
        Raw::Text(_) => "a string",
        Raw::Int(_) => "an integer",
        Raw::Float(_) => "a float",
        Raw::Bool(_) => "a boolean",
        Raw::List(_) => "an array",
        Raw::Other(kind) => kind,
    }
}

/// Parse `500ms`, `20s`, `5m`, `1h`, `1h30m`, `0`. Returns `None` on anything else.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60)?),
            "h" => Duration::from_secs(n.checked_mul(3600)?),
            "d" => Duration::from_secs(n.checked_mul(86_400)?),
            _ => return None,
        };
        total = total.checked_add(part)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// The shortest exact rendering: `1h30m`, `20s`, `1500ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let mut secs = ms / 1000;
    let mut out = String::new();
    for (unit, size) in [("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for text in ["500ms", "20s", "5m", "1h", "1h30m", "2m5s"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), text);
        }
        assert_eq!(parse_duration("90s").map(format_duration).as_deref(), Some("1m30s"));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)), "days, for certificate lifetimes");
        assert_eq!(parse_duration("1d").map(format_duration).as_deref(), Some("24h"));
        for bad in ["", "20", "s", "20 s", "-5s", "1.5s", "5w", "99999999999999999999h", "999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad:?} should not parse");
        }
    }
}
