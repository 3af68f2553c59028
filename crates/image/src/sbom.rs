//! The image's software bill of materials, CycloneDX 1.5 JSON: every crate compiled into the
//! binary, read from the binary itself (the dependency list `cargo auditable` embeds, so the
//! SBOM cannot drift from what was linked), plus the Debian packages of the base. Stored in the
//! image at [`SBOM_DIR`]`/<app>.cdx.json` and named by the `dev.tk8s.sbom` label.
//!
//! Written by hand rather than with the `cyclonedx-bom` crate: the document is a few fields, and
//! that crate's dependency tree would be larger than everything else this crate pulls in.

use crate::ImageError;
use auditable_info::{Limits, audit_info_from_file};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// Where SBOMs live in an image.
pub const SBOM_DIR: &str = "/usr/share/sbom";
/// The label naming the SBOM's path in the image.
pub const SBOM_LABEL: &str = "dev.tk8s.sbom";

/// A crate compiled into the binary (build-time only crates, such as proc macros and build
/// scripts' dependencies, are left out: they are not in the binary).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Crate {
    pub name: String,
    pub version: String,
    /// `crates-registry`, `local`, `git`, or another registry's name.
    pub source: String,
}

/// The crates `cargo auditable` recorded in `binary`, runtime ones only.
pub fn linked_crates(binary: &Path) -> Result<Vec<Crate>, ImageError> {
    let info = audit_info_from_file(binary, Limits::default()).map_err(|e| ImageError::Tool {
        tool: "sbom",
        reason: format!("{} carries no dependency list: {e}", binary.display()),
        hint: "build it with `cargo auditable build --release` (cargo install cargo-auditable), which embeds the list any scanner can read"
            .into(),
    })?;
    let mut crates: Vec<Crate> = info
        .packages
        .iter()
        .filter(|p| p.kind == auditable_serde::DependencyKind::Runtime)
        .map(|p| Crate { name: p.name.clone(), version: p.version.to_string(), source: source_name(&p.source) })
        .collect();
    crates.sort();
    crates.dedup();
    Ok(crates)
}

fn source_name(source: &auditable_serde::Source) -> String {
    match source {
        auditable_serde::Source::CratesIo => "crates-registry".into(),
        auditable_serde::Source::Local => "local".into(),
        auditable_serde::Source::Git => "git".into(),
        auditable_serde::Source::Registry => "registry".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// What an SBOM is made of.
pub struct SbomInput<'a> {
    /// The image's name and version (tag).
    pub image: &'a str,
    pub version: &'a str,
    /// The binary's path in the image and the crates in it.
    pub binary_path: &'a str,
    pub crates: &'a [Crate],
    /// `name=version` of the base's Debian packages.
    pub debian_packages: &'a [String],
    /// Licence expressions by `name@version`, where known (from `cargo metadata`).
    pub licences: &'a BTreeMap<String, String>,
    /// Seconds since the epoch (`SOURCE_DATE_EPOCH`): the document is reproducible.
    pub created: u64,
}

/// The CycloneDX 1.5 document.
pub fn cyclonedx(input: &SbomInput) -> Value {
    let mut components = Vec::new();
    for c in input.crates {
        let purl = format!("pkg:cargo/{}@{}", c.name, c.version);
        let mut component = json!({
            "type": "library", "bom-ref": purl, "name": c.name, "version": c.version, "purl": purl,
            "properties": [{ "name": "tk8s:binary", "value": input.binary_path }, { "name": "tk8s:source", "value": c.source }],
        });
        if let Some(l) = input.licences.get(&format!("{}@{}", c.name, c.version)) {
            component["licenses"] = json!([{ "expression": l }]);
        }
        components.push(component);
    }
    for p in input.debian_packages {
        let (name, version) = p.split_once('=').unwrap_or((p, ""));
        let purl = format!("pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12");
        components.push(json!({ "type": "library", "bom-ref": purl, "name": name, "version": version, "purl": purl }));
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": crate::oci::rfc3339(input.created),
            "tools": { "components": [{ "type": "application", "name": "tk8s", "version": env!("CARGO_PKG_VERSION") }] },
            "component": { "type": "container", "bom-ref": "image", "name": input.image, "version": input.version },
        },
        "components": components,
    })
}

/// Put the SBOM of `spec`'s binary and of `base` into the image: a file at
/// [`path_in_image`] and the [`SBOM_LABEL`] label. Returns how many crates it lists, or `None`
/// when the binary carries no dependency list (the SBOM then lists the base's packages only).
///
/// `cargo auditable` records the crates `cargo metadata` resolves for the whole workspace, which
/// can include optional dependencies that other workspace members enable, and proc macros. When
/// the caller knows exactly what the build linked (`cargo tree` of the same build), `linked`
/// narrows the list to it; every crate in `linked` must then be in the binary's own list.
pub fn attach(
    spec: &mut crate::oci::ImageSpec,
    base: &crate::base::Base,
    licences: &BTreeMap<String, String>,
    linked: Option<&std::collections::BTreeSet<(String, String)>>,
) -> Result<Option<(usize, usize)>, ImageError> {
    let crates = match &spec.binary {
        Some(binary) => match linked_crates(binary) {
            Ok(c) => Some(c),
            Err(ImageError::Tool { tool: "sbom", .. }) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let recorded = crates.as_ref().map(Vec::len);
    let crates = match (crates, linked) {
        (Some(recorded), Some(linked)) => {
            let missing: Vec<&(String, String)> =
                linked.iter().filter(|(n, v)| !recorded.iter().any(|c| &c.name == n && &c.version == v)).collect();
            if !missing.is_empty() {
                return Err(ImageError::Tool {
                    tool: "sbom",
                    reason: format!("the binary's dependency list lacks crates the build links: {missing:?}"),
                    hint: "rebuild the binary with `cargo auditable build` from the same Cargo.lock".into(),
                });
            }
            Some(recorded.into_iter().filter(|c| linked.contains(&(c.name.clone(), c.version.clone()))).collect())
        }
        (recorded, _) => recorded,
    };
    let binary_path = format!("{}/{}", tk8s_config::contract::BIN_DIR, spec.app);
    let document = cyclonedx(&SbomInput {
        image: &spec.app,
        version: &spec.tag,
        binary_path: &binary_path,
        crates: crates.as_deref().unwrap_or_default(),
        debian_packages: &base.packages,
        licences,
        created: spec.created,
    });
    let path = path_in_image(&spec.app);
    let bytes = serde_json::to_vec_pretty(&document).unwrap_or_default();
    spec.files.retain(|(p, _)| p != &path);
    spec.files.push((path.clone(), bytes));
    spec.labels.insert(SBOM_LABEL.into(), path);
    Ok(crates.map(|c| c.len()).zip(recorded))
}

/// The SBOM's path in the image for `app`.
pub fn path_in_image(app: &str) -> String {
    format!("{SBOM_DIR}/{app}.cdx.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_lists_crates_and_packages_with_purls_and_known_licences() {
        let crates = vec![Crate { name: "serde".into(), version: "1.0.0".into(), source: "crates-registry".into() }];
        let packages = vec!["libc6=2.36-9+deb12u10".to_string()];
        let licences = BTreeMap::from([("serde@1.0.0".to_string(), "MIT OR Apache-2.0".to_string())]);
        let doc = cyclonedx(&SbomInput {
            image: "greeting",
            version: "1.2.3",
            binary_path: "/usr/local/bin/greeting",
            crates: &crates,
            debian_packages: &packages,
            licences: &licences,
            created: 0,
        });
        assert_eq!(doc["bomFormat"], "CycloneDX");
        assert_eq!(doc["metadata"]["timestamp"], "1970-01-01T00:00:00Z");
        assert_eq!(doc["components"][0]["purl"], "pkg:cargo/serde@1.0.0");
        assert_eq!(doc["components"][0]["licenses"][0]["expression"], "MIT OR Apache-2.0");
        assert_eq!(doc["components"][1]["purl"], "pkg:deb/debian/libc6@2.36-9+deb12u10?arch=amd64&distro=debian-12");
    }

    #[test]
    fn a_binary_without_a_dependency_list_is_refused_with_the_fix() {
        let e = linked_crates(Path::new("/bin/sh")).unwrap_err().to_string();
        assert!(e.contains("cargo auditable build"), "{e}");
    }
}
