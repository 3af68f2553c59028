//! Reading raw values from each layer (temporal.toml profile, `tk8s.toml`, environment, flags)
//! and remembering exactly where each came from, so every error and every line of `config show`
//! can name its source.

use crate::error::Problem;
use crate::spec::{self, SETTINGS, Setting};
use crate::value::Raw;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};

/// Where a value came from, in increasing precedence.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    Default,
    /// A default supplied by the application (e.g. its task queue name).
    App,
    TemporalProfile {
        path: PathBuf,
        profile: String,
    },
    File {
        path: PathBuf,
        line: usize,
    },
    Env(String),
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::App => write!(f, "app default"),
            Origin::TemporalProfile { path, profile } => {
                write!(f, "{} (profile {profile})", path.display())
            }
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Env(name) => write!(f, "env {name}"),
            Origin::Flag(name) => write!(f, "flag --{name}"),
        }
    }
}

/// One raw value and its origin.
#[derive(Debug, Clone)]
pub struct Entry {
    pub raw: Raw,
    pub origin: Origin,
}

/// Raw values by setting key; later layers overwrite earlier ones.
pub type Layered = BTreeMap<&'static str, Entry>;

/// Parse `tk8s.toml` text. Unknown sections and keys are errors.
pub fn file_layer(path: &Path, text: &str, out: &mut Layered, problems: &mut Vec<Problem>) {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let at = |offset: usize| Origin::File { path: path.to_path_buf(), line: line_of(offset) };
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let line = e.span().map(|s| line_of(s.start)).unwrap_or(1);
            problems.push(Problem::new(
                Origin::File { path: path.to_path_buf(), line },
                None,
                format!("is not valid TOML: {}", e.message().trim()),
                Some("fix the syntax; see the configuration reference in the README".into()),
            ));
            return;
        }
    };
    for (section, body) in doc.get_ref() {
        let DeValue::Table(table) = body.get_ref() else {
            problems.push(Problem::new(
                at(section.span().start),
                None,
                format!("`{}` must be a [section] table of settings", section.get_ref()),
                Some(format!("known sections: {}", sections().join(", "))),
            ));
            continue;
        };
        for (name, value) in table {
            let key = format!("{}.{}", section.get_ref(), name.get_ref());
            let Some(setting) = spec::by_key(&key) else {
                let hint = spec::closest(&key, SETTINGS.iter().map(|s| s.key))
                    .map(|k| format!("did you mean `{k}`?"))
                    .unwrap_or_else(|| "see the configuration reference in the README".into());
                problems.push(Problem::new(at(name.span().start), None, format!("unknown setting `{key}`"), Some(hint)));
                continue;
            };
            let raw = match value.get_ref() {
                DeValue::String(s) => Raw::Text(s.to_string()),
                DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                    Ok(i) => Raw::Int(i),
                    Err(_) => Raw::Other("an out-of-range integer"),
                },
                DeValue::Float(f) => f.as_str().parse().map(Raw::Float).unwrap_or(Raw::Other("a float")),
                DeValue::Boolean(b) => Raw::Bool(*b),
                DeValue::Datetime(_) => Raw::Other("a datetime"),
                DeValue::Array(items) => items
                    .iter()
                    .map(|i| i.get_ref().as_str().map(String::from))
                    .collect::<Option<Vec<_>>>()
                    .map(Raw::List)
                    .unwrap_or(Raw::Other("an array with non-string items")),
                DeValue::Table(_) => Raw::Other("a table"),
            };
            out.insert(setting.key, Entry { raw, origin: at(name.span().start) });
        }
    }
}

fn sections() -> Vec<&'static str> {
    let mut s: Vec<_> = SETTINGS.iter().map(|s| s.key.split('.').next().unwrap_or("")).collect();
    s.dedup();
    s
}

use crate::spec::env::CONFIG as CONFIG_ENV;

/// Apply the environment. Unknown `TK8S_*` variables are errors (a typo would otherwise be
/// silently ignored); `TEMPORAL_*` variables we do not use are left alone, since the `temporal`
/// CLI and other tools share that prefix.
pub fn env_layer(env: &BTreeMap<String, String>, out: &mut Layered, problems: &mut Vec<Problem>) {
    for setting in SETTINGS {
        if let Some(v) = env.get(setting.env) {
            out.insert(setting.key, Entry { raw: Raw::Text(v.clone()), origin: Origin::Env(setting.env.into()) });
        }
    }
    for name in env.keys() {
        if name.starts_with(spec::env::PREFIX) && name != CONFIG_ENV && !SETTINGS.iter().any(|s| s.env == name) {
            let hint = spec::closest(name, SETTINGS.iter().map(|s| s.env).chain([CONFIG_ENV]))
                .map(|k| format!("did you mean {k}?"))
                .unwrap_or_else(|| "see the configuration reference in the README".into());
            problems.push(Problem::new(Origin::Env(name.clone()), None, "is not a known setting".into(), Some(hint)));
        }
    }
    for (data, path) in spec::env::TLS_DATA {
        if env.contains_key(*data) {
            problems.push(Problem::new(
                Origin::Env((*data).into()),
                None,
                "inline certificate data is not supported".into(),
                Some(format!("mount the file and set {path}, so rotation works without a restart")),
            ));
        }
    }
}

/// `TEMPORAL_GRPC_META_*` variables become gRPC headers, as in Temporal's envconfig.
pub fn grpc_meta(env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    env.iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(spec::env::GRPC_META_PREFIX)?;
            Some((name.to_ascii_lowercase().replace('_', "-"), v.clone()))
        })
        .collect()
}

/// The command line's share of the configuration, as clap parsed it: the `--config` file and
/// each setting's value as typed, in the order given. Values are checked by the loader like every
/// other layer, so a bad one is a configuration error naming `flag --name`.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub config_file: Option<PathBuf>,
    pub settings: Vec<(&'static Setting, String)>,
}

/// Read the temporal.toml profile, as the `temporal` CLI would, into the lowest file layer.
/// `explicit`: the file was named by `temporal.config_file` (whose own check reports a missing
/// file); otherwise it is the default location, which may be absent unless a profile was asked
/// for. `profile`: the profile asked for and where that came from (`None`: `default`).
pub fn temporal_profile_layer(
    path: &Path,
    explicit: bool,
    profile: Option<(&str, &Origin)>,
    out: &mut Layered,
    problems: &mut Vec<Problem>,
) {
    use temporalio_common::envconfig::{ClientConfig, ClientConfigFromTOMLOptions, DataSource};
    let name = profile.map(|(n, _)| n).unwrap_or("default");
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(_) if explicit => return,
        Err(e) => {
            if let Some((name, origin)) = profile {
                problems.push(Problem::new(
                    origin.clone(),
                    Some(spec::TEMPORAL_PROFILE.key),
                    format!("= {name:?} was asked for, but {} (the default temporal.toml) cannot be read: {e}", path.display()),
                    Some(format!("set {} to the file that holds the profile, or unset the profile", spec::TEMPORAL_CONFIG_FILE.env)),
                ));
            }
            return;
        }
    };
    let in_file = Origin::TemporalProfile { path: path.to_path_buf(), profile: name.into() };
    let config = match ClientConfig::from_toml(&bytes, ClientConfigFromTOMLOptions::builder().strict(true).build()) {
        Ok(c) => c,
        Err(e) => {
            problems.push(Problem::new(
                in_file,
                None,
                format!("is not a valid temporal.toml: {e}"),
                Some("see Temporal's environment configuration docs for the file format".into()),
            ));
            return;
        }
    };
    let Some(p) = config.profiles.get(name) else {
        if let Some((name, origin)) = profile {
            let mut known: Vec<_> = config.profiles.keys().map(String::as_str).collect();
            known.sort();
            problems.push(Problem::new(
                origin.clone(),
                Some(spec::TEMPORAL_PROFILE.key),
                format!("= {name:?} is not a profile in {}", path.display()),
                Some(format!("profiles in the file: {}", if known.is_empty() { "none".into() } else { known.join(", ") })),
            ));
        }
        return;
    };
    let origin = Origin::TemporalProfile { path: path.to_path_buf(), profile: name.into() };
    let mut put = |setting: &Setting, raw: Raw| {
        out.insert(setting.key, Entry { raw, origin: origin.clone() });
    };
    if let Some(a) = &p.address {
        put(&spec::TEMPORAL_ADDRESS, Raw::Text(a.clone()));
    }
    if let Some(n) = &p.namespace {
        put(&spec::TEMPORAL_NAMESPACE, Raw::Text(n.clone()));
    }
    if let Some(k) = &p.api_key {
        put(&spec::TEMPORAL_API_KEY, Raw::Text(k.clone()));
    }
    if let Some(tls) = &p.tls {
        if let Some(disabled) = tls.disabled {
            put(&spec::TEMPORAL_TLS, Raw::Bool(!disabled));
        } else {
            put(&spec::TEMPORAL_TLS, Raw::Bool(true));
        }
        if let Some(n) = &tls.server_name {
            put(&spec::TEMPORAL_TLS_SERVER_NAME, Raw::Text(n.clone()));
        }
        for (source, key) in [
            (&tls.client_cert, spec::TEMPORAL_TLS_CLIENT_CERT_PATH),
            (&tls.client_key, spec::TEMPORAL_TLS_CLIENT_KEY_PATH),
            (&tls.server_ca_cert, spec::TEMPORAL_TLS_SERVER_CA_CERT_PATH),
        ] {
            match source {
                Some(DataSource::Path(p)) => put(&key, Raw::Text(p.clone())),
                Some(_) => problems.push(Problem::new(
                    origin.clone(),
                    Some(key.key),
                    "inline certificate data is not supported".into(),
                    Some("use the *_path form pointing at a mounted file, so rotation works".into()),
                )),
                None => {}
            }
        }
    }
}
