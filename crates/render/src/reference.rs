//! The deploy config's reference, generated from its types: a JSON schema (for editors: a
//! `#:schema` line in the file, or the Even Better TOML extension) and a Markdown table of every
//! key with its type, default and the doc comment the type carries. A test keeps the committed
//! copies in `docs/` current, so the reference cannot drift from what `tk8s render` accepts.

use crate::deploy::DeployConfig;
use serde_json::Value;

/// The JSON schema of the deploy config.
pub fn schema() -> Value {
    serde_json::to_value(schemars::schema_for!(DeployConfig)).unwrap_or(Value::Null)
}

/// One key of the reference.
struct Row {
    key: String,
    kind: String,
    default: String,
    doc: String,
}

/// The reference as Markdown: one table per TOML table, keys in declaration order.
pub fn markdown() -> String {
    let schema = schema();
    let mut rows = Vec::new();
    walk(&schema, &schema, "", &mut rows);
    let mut out = String::from(
        "# The deploy config\n\n\
         Generated from the types `tk8s render` parses (`cargo test -p tk8s-render reference` checks it; \
         `TK8S_BLESS=1` rewrites it). Unknown keys are errors. The JSON schema beside this file \
         (`deploy-config.schema.json`) gives editors completion and checks.\n\n\
         | key | type | default | description |\n|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!("| `{}` | {} | {} | {} |\n", r.key, r.kind, r.default, r.doc.replace('\n', " ").replace('|', "\\|")));
    }
    out
}

/// The schema `s` points to (following `$ref` into `$defs`).
fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s["$ref"].as_str().and_then(|r| r.strip_prefix("#/$defs/")) {
        Some(name) => resolve(root, &root["$defs"][name]),
        None => s,
    }
}

/// An `Option<T>`'s schema is "T or null": the T.
fn non_null<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    if let Some(alts) = s["anyOf"].as_array().or(s["oneOf"].as_array()) {
        let real: Vec<&Value> = alts.iter().filter(|a| a["type"] != "null").collect();
        if real.len() == 1 {
            return resolve(root, real[0]);
        }
    }
    if let Some(types) = s["type"].as_array()
        && let Some(t) = types.iter().find(|t| *t != "null")
    {
        // `{"type": ["string", "null"]}`: keep the rest, with the one type.
        let mut one = s.clone();
        one["type"] = t.clone();
        return Box::leak(Box::new(one));
    }
    resolve(root, s)
}

fn kind(root: &Value, s: &Value) -> String {
    let s = non_null(root, s);
    if let Some(values) = s["enum"].as_array() {
        return format!("one of {}", values.iter().map(|v| format!("`{}`", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(", "));
    }
    if let Some(alts) = s["oneOf"].as_array() {
        let words: Vec<String> =
            alts.iter().filter_map(|a| a["const"].as_str().or(a["enum"][0].as_str())).map(|w| format!("`{w}`")).collect();
        if !words.is_empty() {
            return format!("one of {}", words.join(", "));
        }
    }
    if s["pattern"].is_string() && s["type"] == "string" {
        return "duration".into();
    }
    match s["type"].as_str() {
        Some("array") => format!("list of {}", kind(root, &s["items"])),
        Some("object") if s["properties"].is_object() => "table".into(),
        Some("object") => format!("table of {}", kind(root, &s["additionalProperties"])),
        Some("integer") => "integer".into(),
        Some(other) => other.into(),
        None => "value".into(),
    }
}

fn walk(root: &Value, s: &Value, prefix: &str, rows: &mut Vec<Row>) {
    let s = non_null(root, s);
    let Some(props) = s["properties"].as_object() else { return };
    let required: Vec<&str> = s["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    for (name, prop) in props {
        let key = format!("{prefix}{name}");
        let target = non_null(root, prop);
        let doc = prop["description"].as_str().or(target["description"].as_str()).unwrap_or_default().to_string();
        let default = match &prop["default"] {
            Value::Null if required.contains(&name.as_str()) => "required".to_string(),
            Value::Null => String::new(),
            Value::Array(a) if a.is_empty() => String::new(),
            Value::Object(o) if o.is_empty() => String::new(),
            v => format!("`{v}`"),
        };
        rows.push(Row { key: key.clone(), kind: kind(root, prop), default, doc });
        match target["type"].as_str() {
            Some("object") if target["properties"].is_object() => walk(root, target, &format!("{key}."), rows),
            Some("object") => {
                let values = non_null(root, &target["additionalProperties"]);
                if values["properties"].is_object() {
                    walk(root, values, &format!("{key}.<name>."), rows);
                }
            }
            Some("array") => {
                let items = non_null(root, &target["items"]);
                if items["properties"].is_object() {
                    walk(root, items, &format!("{key}[]."), rows);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn current(rel: &str, wanted: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel);
        let found = std::fs::read_to_string(&path).unwrap_or_default();
        if found != wanted {
            if std::env::var_os("TK8S_BLESS").is_some() {
                std::fs::write(&path, wanted).expect("write the reference");
            } else {
                panic!("{rel} is stale: run `TK8S_BLESS=1 cargo test -p tk8s-render reference`");
            }
        }
    }

    #[test]
    fn reference_and_schema_are_current() {
        let md = super::markdown();
        for key in ["`app.binary`", "`worker.autoscaling.scale_down_window`", "`environments.<name>.tag`", "`skip_checks[].reason`"] {
            assert!(md.contains(key), "{key} missing from the reference");
        }
        assert!(md.contains("| `temporal.auth` | one of `none`, `mtls`, `api-key` |"), "{md}");
        current("docs/deploy-config.md", &md);
        current("docs/deploy-config.schema.json", &(serde_json::to_string_pretty(&super::schema()).unwrap() + "\n"));
    }
}
