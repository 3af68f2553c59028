//! Typed reads of checked values, named by setting (`r.duration(&spec::SHUTDOWN_GRACE)`), so a
//! misspelt setting does not compile and a default is read from the table, never restated.

use crate::error::Problem;
use crate::source::Origin;
use crate::spec::{Kind, Setting};
use crate::value::{Raw, Value, check};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) struct Resolved<'a> {
    values: &'a [(&'static Setting, Option<(Value, Origin)>)],
    /// Whether the files settings name are on this machine (a process starting) or only in a
    /// pod that does not exist yet (`tk8s render` checking a role's env): then their contents
    /// are not looked at.
    pub(crate) files_here: bool,
}

/// Typed reads of checked values, by setting. Getters that return a plain value are for settings
/// with a default (the value is then always there: the default is a layer); `opt_*` getters are
/// for settings that may be unset. Asking for a setting as the wrong kind is a bug that debug
/// builds (every test) stop at.
impl<'a> Resolved<'a> {
    pub(crate) fn new(values: &'a [(&'static Setting, Option<(Value, Origin)>)], files_here: bool) -> Self {
        Resolved { values, files_here }
    }

    pub(crate) fn entry(&self, s: &Setting) -> Option<&(Value, Origin)> {
        self.values.iter().find(|(r, _)| r.key == s.key).and_then(|(_, v)| v.as_ref())
    }
    pub(crate) fn value(&self, s: &Setting) -> Option<Value> {
        self.entry(s).map(|(v, _)| v.clone()).or_else(|| s.default.and_then(|d| check(s, &Raw::Text(d.into()), Path::new("/")).ok()))
    }
    pub(crate) fn defaulted(&self, s: &Setting) -> Option<Value> {
        debug_assert!(s.default.is_some(), "{} has no default: read it with an opt_ getter", s.key);
        self.value(s)
    }
    pub(crate) fn opt_text(&self, s: &Setting) -> Option<String> {
        debug_assert!(matches!(s.kind, Kind::Text { .. } | Kind::Choice(_)), "{} is not text", s.key);
        match self.value(s)? {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }
    pub(crate) fn text(&self, s: &Setting) -> String {
        debug_assert!(s.default.is_some(), "{} has no default", s.key);
        self.opt_text(s).unwrap_or_default()
    }
    pub(crate) fn int<T: TryFrom<i64> + Default>(&self, s: &Setting) -> T {
        debug_assert!(matches!(s.kind, Kind::Int { .. } | Kind::Port), "{} is not a whole number", s.key);
        match self.defaulted(s) {
            Some(Value::Int(i)) => T::try_from(i).unwrap_or_default(),
            _ => T::default(),
        }
    }
    pub(crate) fn opt_float(&self, s: &Setting) -> Option<f64> {
        debug_assert!(matches!(s.kind, Kind::Float { .. }), "{} is not a number", s.key);
        match self.value(s)? {
            Value::Float(f) => Some(f),
            _ => None,
        }
    }
    pub(crate) fn float(&self, s: &Setting) -> f64 {
        debug_assert!(s.default.is_some(), "{} has no default", s.key);
        self.opt_float(s).unwrap_or_default()
    }
    pub(crate) fn opt_bool(&self, s: &Setting) -> Option<bool> {
        debug_assert!(matches!(s.kind, Kind::Bool), "{} is not a boolean", s.key);
        match self.value(s)? {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub(crate) fn bool(&self, s: &Setting) -> bool {
        debug_assert!(s.default.is_some(), "{} has no default", s.key);
        self.opt_bool(s).unwrap_or_default()
    }
    pub(crate) fn opt_duration(&self, s: &Setting) -> Option<Duration> {
        debug_assert!(matches!(s.kind, Kind::Duration { .. }), "{} is not a duration", s.key);
        match self.value(s)? {
            Value::Duration(d) => Some(d),
            _ => None,
        }
    }
    pub(crate) fn duration(&self, s: &Setting) -> Duration {
        debug_assert!(s.default.is_some(), "{} has no default", s.key);
        self.opt_duration(s).unwrap_or_default()
    }
    pub(crate) fn path(&self, s: &Setting) -> Option<PathBuf> {
        debug_assert!(matches!(s.kind, Kind::File | Kind::Dir), "{} is not a path", s.key);
        match self.value(s)? {
            Value::Path(p) => Some(p),
            _ => None,
        }
    }
    pub(crate) fn list(&self, s: &Setting) -> Vec<String> {
        debug_assert!(matches!(s.kind, Kind::List), "{} is not a list", s.key);
        match self.value(s) {
            Some(Value::List(l)) => l,
            _ => Vec::new(),
        }
    }
    /// A bind address and port setting pair.
    pub(crate) fn socket(&self, bind: &Setting, port: &Setting) -> SocketAddr {
        debug_assert!(matches!(bind.kind, Kind::Ip), "{} is not an IP", bind.key);
        let ip = match self.defaulted(bind) {
            Some(Value::Ip(ip)) => ip,
            _ => IpAddr::from([0, 0, 0, 0]),
        };
        SocketAddr::new(ip, self.int(port))
    }
    pub(crate) fn origin(&self, s: &Setting) -> Origin {
        self.entry(s).map(|(_, o)| o.clone()).unwrap_or(Origin::Default)
    }
    /// A problem with one setting, named by its origin and key.
    pub(crate) fn problem(&self, s: &'static Setting, message: String, hint: Option<String>) -> Problem {
        Problem::new(self.origin(s), Some(s.key), message, hint)
    }
}
