//! `methods.lock`: the resolved method set that produced a results directory.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::load::Resolved;

#[derive(Serialize, Deserialize)]
struct LockFile {
    #[serde(rename = "method", default)]
    methods: Vec<Resolved>,
}

/// The lock file's text for a resolved set.
pub fn render(resolved: &[Resolved]) -> String {
    let header = "# profcmp methods.lock: the exact plugins that produced these results\n";
    format!(
        "{header}{}",
        toml::to_string(&LockFile {
            methods: resolved.to_vec()
        })
        .expect("lock serializes")
    )
}

/// Reads a lock file.
pub fn read(path: &Path) -> anyhow::Result<Vec<Resolved>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read the lock file: {e}", path.display()))?;
    let lock: LockFile =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: not a methods.lock: {e}", path.display()))?;
    Ok(lock.methods)
}

/// Differences between a lock and the resolved set, one line each (empty when they agree).
pub fn diff(locked: &[Resolved], resolved: &[Resolved]) -> Vec<String> {
    let mut lines = Vec::new();
    for want in locked {
        match resolved.iter().find(|r| r.name == want.name) {
            None => lines.push(format!("{} {} is locked but not selected", want.name, want.version)),
            Some(have) if have.version != want.version => lines.push(format!(
                "{}: locked {}, resolved {}",
                want.name, want.version, have.version
            )),
            Some(have) if have.sha256 != want.sha256 => lines.push(format!(
                "{} {}: the installed .so ({}) differs from the locked one (sha256 {} vs {})",
                want.name,
                want.version,
                have.path.display(),
                short(&have.sha256),
                short(&want.sha256)
            )),
            Some(_) => {}
        }
    }
    for have in resolved.iter().filter(|r| !locked.iter().any(|l| l.name == r.name)) {
        lines.push(format!(
            "{} {} is selected but not in the lock",
            have.name, have.version
        ));
    }
    lines
}

/// The first 12 characters of a digest (a lock file may hold anything).
fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn resolved(name: &str, version: &str, sha: &str) -> Resolved {
        Resolved {
            name: name.into(),
            version: version.into(),
            path: format!("/p/lib{name}.so").into(),
            sha256: sha.into(),
            api_version: "0.1.0".into(),
            options: serde_json::Value::Null,
        }
    }

    #[test]
    fn lock_round_trips_and_diffs() {
        let set = vec![
            resolved("a", "1.0.0", "aaaaaaaaaaaaaaaa"),
            resolved("b", "0.2.0", "bbbbbbbbbbbbbbbb"),
        ];
        let dir = std::env::temp_dir().join(format!("profcmp-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("methods.lock");
        std::fs::write(&path, render(&set)).unwrap();
        let back = read(&path).unwrap();
        assert!(diff(&back, &set).is_empty());
        let changed = vec![
            resolved("a", "1.1.0", "aaaaaaaaaaaaaaaa"),
            resolved("b", "0.2.0", "cccccccccccccccc"),
        ];
        let lines = diff(&back, &changed);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("locked 1.0.0, resolved 1.1.0"));
        assert!(lines[1].contains("differs from the locked one"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    pub(crate) mod properties {
        use proptest::prelude::*;

        const LOCK: &str = "# profcmp methods.lock\n[[method]]\nname = \"aic_all\"\nversion = \"0.1.0\"\npath = \"/p/libaic_all.so\"\nsha256 = \"0123456789abcdef0123\"\napi_version = \"0.1.0\"\n";
        pub(crate) const METHODS: &str =
            "[methods]\naic_all = \"^0.1\"\nbayesian = { version = \"^0.1\", options = { max_deployments = 4 } }\n";

        pub(crate) fn mutated(base: &'static str) -> impl Strategy<Value = String> {
            proptest::collection::vec((any::<usize>(), any::<u8>(), any::<bool>()), 1..8).prop_map(move |edits| {
                let mut bytes = base.as_bytes().to_vec();
                for (at, byte, insert) in edits {
                    let at = at % (bytes.len() + 1);
                    match insert || at == bytes.len() {
                        true => bytes.insert(at, byte),
                        false => bytes[at] = byte,
                    }
                }
                String::from_utf8_lossy(&bytes).into_owned()
            })
        }

        pub(crate) fn file(name: &str, text: &str) -> std::path::PathBuf {
            let path = std::env::temp_dir().join(format!("profcmp-proptest-{name}-{}", std::process::id()));
            std::fs::write(&path, text).unwrap();
            path
        }

        proptest! {
            /// methods.lock as a user may hand it in: read and compared, or refused with an
            /// error, never a panic (methods.toml: `methods::tests`).
            #[test]
            fn lock_files_never_panic(
                lock in prop_oneof![any::<String>(), mutated(LOCK)],
                other in mutated(LOCK),
            ) {
                if let (Ok(a), Ok(b)) = (super::read(&file("lock-a", &lock)), super::read(&file("lock-b", &other))) {
                    let _ = super::diff(&a, &b);
                    let _ = super::render(&a);
                }
            }
        }
    }
}
