//! Plugin discovery, checks, installation, semver selection and the lock.

use crate::util::*;

#[test]
fn check_accepts_a_plugin_and_refuses_others_in_one_line() {
    let home = temp_dir("check");
    let ok = profcmp(&["plugins", "check", fixture("fixture_v1_0").to_str().unwrap()], &home);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("fixture 1.0.0"),
        "{}",
        text(&ok)
    );

    let cases = [
        (fixture("not_a_plugin"), "not a profcmp plugin"),
        (
            fixture("old_api"),
            "was built against plugin-api 0.0.1, this host has 0.1.1: rebuild it against plugin-api 0.1",
        ),
        (home.join("missing.so"), "cannot read the file"),
    ];
    for (path, expected) in cases {
        let out = profcmp(&["plugins", "check", path.to_str().unwrap()], &home);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}", text(&out));
        assert!(stderr.contains(expected), "expected `{expected}` in:\n{}", text(&out));
        assert_eq!(stderr.lines().count(), 1, "one clear line, got:\n{}", text(&out));
    }
}

#[test]
fn a_text_file_named_so_is_refused() {
    let home = temp_dir("garbage-so");
    let path = home.join("libgarbage.so");
    std::fs::write(&path, "not an ELF file").unwrap();
    let out = profcmp(&["plugins", "check", path.to_str().unwrap()], &home);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a loadable shared library"),
        "{}",
        text(&out)
    );
}

#[test]
fn install_puts_versions_side_by_side_and_list_shows_them() {
    let home = temp_dir("install");
    for name in ["fixture_v1_0", "fixture_v1_1"] {
        let out = profcmp(&["plugins", "install", fixture(name).to_str().unwrap()], &home);
        assert!(out.status.success(), "{}", text(&out));
    }
    let installed = home.join("plugins");
    assert!(installed.join("libfixture-1.0.0.so").exists());
    assert!(installed.join("libfixture-1.1.0.so").exists());

    let refused = profcmp(&["plugins", "install", fixture("old_api").to_str().unwrap()], &home);
    assert!(!refused.status.success());
    assert!(!installed.join("libold_api-0.1.0.so").exists());

    let list = profcmp(&["plugins", "list"], &home);
    let stdout = String::from_utf8_lossy(&list.stdout);
    assert!(
        stdout.lines().filter(|l| l.starts_with("fixture ")).count() == 2,
        "{}",
        text(&list)
    );
}

#[test]
fn resolution_picks_the_highest_matching_version() {
    let home = temp_dir("resolve");
    let dir = plugin_dir(
        "resolve",
        &[
            "fixture_v1_0",
            "fixture_v1_1",
            "fixture_v2_0",
            "not_a_plugin",
            "old_api",
        ],
    );
    let dir = dir.to_str().unwrap();
    let resolve = |req: &str| profcmp(&["plugins", "resolve", "--plugin-dir", dir, "--method", req], &home);

    for (req, version) in [
        ("fixture@^1", "1.1.0"),
        ("fixture@=1.0.0", "1.0.0"),
        ("fixture", "2.0.0"),
    ] {
        let out = resolve(req);
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&format!("version = \"{version}\"")),
            "{req}: {}",
            text(&out)
        );
    }

    let none = resolve("fixture@^3");
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(!none.status.success());
    assert!(
        stderr.contains("no installed version of fixture matches ^3 (found"),
        "{}",
        text(&none)
    );
    assert!(stderr.contains("1.1.0 in"), "{}", text(&none));

    let old = resolve("old_api");
    assert!(
        String::from_utf8_lossy(&old.stderr).contains("rebuild it against plugin-api 0.1"),
        "{}",
        text(&old)
    );

    let unknown = resolve("nosuch");
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no installed plugin is named `nosuch`"),
        "{}",
        text(&unknown)
    );
}

#[test]
fn locked_refuses_a_different_installed_set() {
    let home = temp_dir("locked");
    let dir = plugin_dir("locked", &["fixture_v1_0"]);
    let dir_s = dir.to_str().unwrap();
    let out = profcmp(
        &["plugins", "resolve", "--plugin-dir", dir_s, "--method", "fixture@^1"],
        &home,
    );
    assert!(out.status.success(), "{}", text(&out));
    let lock = home.join("methods.lock");
    std::fs::write(&lock, &out.stdout).unwrap();

    let same = profcmp(
        &[
            "plugins",
            "resolve",
            "--plugin-dir",
            dir_s,
            "--method",
            "fixture@^1",
            "--locked",
            lock.to_str().unwrap(),
        ],
        &home,
    );
    assert!(same.status.success(), "{}", text(&same));

    std::fs::copy(fixture("fixture_v1_1"), dir.join("libfixture_v1_1.so")).unwrap();
    let newer = profcmp(
        &[
            "plugins",
            "resolve",
            "--plugin-dir",
            dir_s,
            "--method",
            "fixture@^1",
            "--locked",
            lock.to_str().unwrap(),
        ],
        &home,
    );
    assert!(!newer.status.success());
    assert!(
        String::from_utf8_lossy(&newer.stderr).contains("fixture: locked 1.0.0, resolved 1.1.0"),
        "{}",
        text(&newer)
    );
}

#[test]
fn methods_file_pins_versions_and_rejects_unknown_keys() {
    let home = temp_dir("methods-file");
    let dir = plugin_dir("methods-file", &["fixture_v1_0", "fixture_v1_1"]);
    let file = home.join("methods.toml");
    std::fs::write(
        &file,
        "[methods]\nfixture = { version = \"=1.0.0\", options = { k = 1 } }\n",
    )
    .unwrap();
    let args = [
        "plugins",
        "resolve",
        "--plugin-dir",
        dir.to_str().unwrap(),
        "--methods-file",
        file.to_str().unwrap(),
    ];
    let out = profcmp(&args, &home);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("version = \"1.0.0\""),
        "{}",
        text(&out)
    );

    std::fs::write(&file, "[methods]\nfixture = { versoin = \"1\" }\n").unwrap();
    let bad = profcmp(&args, &home);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unknown key `versoin`"),
        "{}",
        text(&bad)
    );
}

#[test]
fn the_readme_plugin_is_the_minimal_fixture_and_it_loads() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let source = std::fs::read_to_string(workspace().join("tests/fixture-plugins/minimal/src/lib.rs")).unwrap();
    assert!(
        readme.contains(&source),
        "README's plugin differs from tests/fixture-plugins/minimal/src/lib.rs"
    );
    assert!(source.lines().count() < 40, "the minimal plugin stays under 40 lines");
    let home = temp_dir("minimal");
    let out = profcmp(&["plugins", "check", fixture("minimal").to_str().unwrap()], &home);
    assert!(out.status.success(), "{}", text(&out));
}
