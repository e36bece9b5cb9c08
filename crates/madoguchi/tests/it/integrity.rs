//! The integrity check of issue 8: `madoguchi integrity keygen|sign|check`,
//! and a counter that checks its own binary and configuration against the
//! manifest signed at release, raises an alert in the ledger and, when told
//! to, answers every request with 503. Templates and assets are compiled
//! in, so the binary's hash covers everything served.
//!
//! The binary is copied into each test's directory before it is signed: a
//! rebuild of target/debug/madoguchi while the tests run must not change
//! what they check.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use testkit::{Engine, TestCounter};

use crate::madoguchi;

/// A release key pair in a directory of its own, with a copy of the
/// binary under test.
struct Release {
    dir: tempfile::TempDir,
    key: PathBuf,
    public: PathBuf,
    binary: PathBuf,
}

fn integrity(args: &[&OsStr]) -> Output {
    std::process::Command::new(madoguchi())
        .arg("integrity")
        .args(args)
        .env_remove("MADOGUCHI_CONFIG")
        .output()
        .expect("run madoguchi integrity")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn release() -> Release {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("release.key");
    let output = integrity(&["keygen".as_ref(), "--out".as_ref(), key.as_os_str()]);
    assert!(output.status.success(), "{}", text(&output));
    let public = dir.path().join("release.pub");
    assert!(text(&output).contains("madoguchi-release-key ed25519 "), "{}", text(&output));
    let binary = dir.path().join("madoguchi");
    std::fs::copy(madoguchi(), &binary).unwrap();
    Release { dir, key, public, binary }
}

impl Release {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Signs `binary` and `configs` into the manifest `name`.
    fn sign(&self, name: &str, binary: &Path, configs: &[&Path]) -> PathBuf {
        let manifest = self.path(name);
        let mut args: Vec<&OsStr> = vec!["sign".as_ref(), "--key".as_ref(), self.key.as_os_str()];
        args.extend(["--binary".as_ref(), binary.as_os_str(), "--out".as_ref(), manifest.as_os_str()]);
        for config in configs {
            args.extend(["--config".as_ref(), config.as_os_str()]);
        }
        let output = integrity(&args);
        assert!(output.status.success(), "{}", text(&output));
        manifest
    }

    /// `integrity check` of `binary` and `configs` against `manifest`.
    fn check(&self, manifest: &Path, binary: &Path, configs: &[&Path]) -> Output {
        let mut args: Vec<&OsStr> = vec!["check".as_ref(), "--manifest".as_ref(), manifest.as_os_str()];
        args.extend(["--public-key".as_ref(), self.public.as_os_str(), "--binary".as_ref(), binary.as_os_str()]);
        for config in configs {
            args.extend(["--config".as_ref(), config.as_os_str()]);
        }
        integrity(&args)
    }

    fn serve_args<'a>(&'a self, manifest: &'a Path) -> Vec<&'a str> {
        vec![
            "--integrity-manifest",
            manifest.to_str().unwrap(),
            "--integrity-public-key",
            self.public.to_str().unwrap(),
            "--integrity-refuse",
            "true",
        ]
    }
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = at.min(bytes.len() - 1);
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn signing_then_checking_passes_for_the_built_binary_and_a_config_file() {
    let release = release();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&release.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the signing key is readable by its owner only");
        assert_eq!(std::fs::read(&release.key).unwrap().len(), 32);
    }
    // keygen never overwrites a key.
    let again = integrity(&["keygen".as_ref(), "--out".as_ref(), release.key.as_os_str()]);
    assert!(!again.status.success(), "{}", text(&again));

    let config = release.path("madoguchi.toml");
    std::fs::write(&config, "demo = false\nlisten = \"127.0.0.1:8080\"\n").unwrap();
    let manifest = release.sign("manifest", &release.binary, &[&config]);
    let signed = std::fs::read_to_string(&manifest).unwrap();
    assert!(signed.starts_with("madoguchi-integrity-manifest v1\n"), "{signed}");
    assert!(signed.contains("\nbinary ") && signed.contains(&format!(" {}\n", config.display())), "{signed}");

    let output = release.check(&manifest, &release.binary, &[&config]);
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert!(said.contains("ok        manifest signature"), "{said}");
    assert!(said.contains(&format!("ok        binary {}", release.binary.display())), "{said}");
    assert!(said.contains(&format!("ok        config {}", config.display())), "{said}");
    assert!(!said.contains("MISMATCH"), "{said}");
}

#[test]
fn one_changed_byte_in_the_binary_or_the_config_or_the_signature_fails_the_check_naming_it() {
    let release = release();
    let config = release.path("madoguchi.toml");
    std::fs::write(&config, "demo = false\n").unwrap();
    let manifest = release.sign("manifest", &release.binary, &[&config]);
    let size = std::fs::metadata(&release.binary).unwrap().len() as usize;

    // One byte of the binary.
    flip_byte(&release.binary, size / 2);
    let output = release.check(&manifest, &release.binary, &[&config]);
    let said = text(&output);
    assert!(!output.status.success(), "{said}");
    assert!(said.contains(&format!("MISMATCH  binary {}: sha256 ", release.binary.display())), "{said}");
    assert!(said.contains(&format!("ok        config {}", config.display())), "{said}");
    flip_byte(&release.binary, size / 2);

    // One byte of the configuration.
    std::fs::write(&config, "demo = true\n").unwrap();
    let output = release.check(&manifest, &release.binary, &[&config]);
    let said = text(&output);
    assert!(!output.status.success(), "{said}");
    assert!(said.contains(&format!("MISMATCH  config {}: sha256 ", config.display())), "{said}");
    assert!(said.contains(&format!("ok        binary {}", release.binary.display())), "{said}");
    assert!(!said.contains("demo = true"), "contents are never printed: {said}");
    std::fs::write(&config, "demo = false\n").unwrap();

    // One byte of the signature, or of the signed text: nothing of the
    // manifest is believed (the files are not even read).
    let signed = std::fs::read_to_string(&manifest).unwrap();
    let (body, signature) = signed.split_at(signed.find("signature ").unwrap());
    let flip = |c: char| if c == '0' { '1' } else { '0' };
    let mut bad_signature: Vec<char> = signature.chars().collect();
    bad_signature[20] = flip(bad_signature[20]);
    let bad_signature: String = body.chars().chain(bad_signature).collect();
    let at = signed.find("\nbinary ").unwrap() + 10;
    let mut bad_body: Vec<char> = signed.chars().collect();
    bad_body[at] = flip(bad_body[at]);
    for (name, tampered) in [("flipped-signature", bad_signature), ("flipped-hash", bad_body.into_iter().collect())] {
        let path = release.path(name);
        std::fs::write(&path, tampered).unwrap();
        let output = release.check(&path, &release.binary, &[&config]);
        let said = text(&output);
        assert!(!output.status.success(), "{name}: {said}");
        assert!(said.contains("MISMATCH  manifest signature: bad signature"), "{name}: {said}");
        assert!(!said.contains("ok        binary"), "{name}: {said}");
    }

    // A manifest signed by another key.
    let other = tempfile::tempdir().unwrap();
    let other_key = other.path().join("other.key");
    assert!(integrity(&["keygen".as_ref(), "--out".as_ref(), other_key.as_os_str()]).status.success());
    let output = integrity(&[
        "check".as_ref(),
        "--manifest".as_ref(),
        manifest.as_os_str(),
        "--public-key".as_ref(),
        other.path().join("other.pub").as_os_str(),
        "--binary".as_ref(),
        release.binary.as_os_str(),
    ]);
    assert!(!output.status.success() && text(&output).contains("names key"), "{}", text(&output));

    // The untouched files still pass.
    let output = release.check(&manifest, &release.binary, &[&config]);
    assert!(output.status.success(), "{}", text(&output));
}

/// The integrity alerts in the counter's ledger: (subject, detail).
async fn integrity_alerts(counter: &TestCounter) -> Vec<(String, String)> {
    let entries = counter.store().await.ledger_entries(0, 10_000).await.unwrap();
    entries
        .into_iter()
        .filter(|e| e.event.kind == ledger::EventKind::Alert && e.event.actor == "system:integrity")
        .map(|e| {
            assert_eq!(e.event.tenant, None);
            (e.event.subject.unwrap_or_default(), e.event.detail)
        })
        .collect()
}

fn stderr_log(counter: &TestCounter) -> String {
    std::fs::read_to_string(counter.root.path().join("logs/stderr.0.log")).unwrap_or_default()
}

async fn get(counter: &TestCounter, path: &str) -> (u16, String) {
    let response = counter.client().get(format!("{}{path}", counter.url)).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_whose_binary_does_not_match_the_manifest_refuses_every_request_and_records_an_alert() {
    let release = release();
    let other_binary = release.path("another-build");
    std::fs::write(&other_binary, b"\x7fELF some other build").unwrap();
    let manifest = release.sign("manifest", &other_binary, &[]);
    let mut args = release.serve_args(&manifest);
    args.extend(["--integrity-every", "1"]);
    let counter = TestCounter::start_with(&release.binary, Engine::Sqlite, &args).await;

    // From the very first request: the static page, everywhere.
    for path in ["/", "/t/aoba-city/f/water-start", "/assets/style.css", "/healthz", "/admin/"] {
        let (status, page) = get(&counter, path).await;
        assert_eq!(status, 503, "{path}: {page}");
        assert!(page.contains("このサービスは点検のため停止しています"), "{path}: {page}");
        assert!(page.contains("This service is stopped for a check"), "{path}: {page}");
        assert!(!page.contains("panicked") && !page.contains(".rs:"), "no stack trace: {page}");
    }
    let response = counter.client().post(format!("{}/t/aoba-city/f/water-start/confirm", counter.url));
    let response = response.form(&crate::water_start_answers(&[])).send().await.unwrap();
    assert_eq!(response.status(), 503, "nothing is taken in");

    // An alert for each thing that differs, named, once each however many
    // checks find it again.
    let alerts = integrity_alerts(&counter).await;
    let subjects: Vec<&str> = alerts.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(subjects, ["binary-image", "binary-file"], "{alerts:?}");
    assert!(alerts
        .iter()
        .all(|(_, d)| d.starts_with("integrity mismatch: binary") && d.ends_with("refusing to serve")));
    let started = Instant::now();
    while stderr_log(&counter).matches("INTEGRITY MISMATCH").count() < 4 {
        assert!(started.elapsed() < Duration::from_secs(90), "no second check:\n{}", stderr_log(&counter));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(integrity_alerts(&counter).await.len(), 2, "one alert per distinct mismatch");
    let log = stderr_log(&counter);
    assert!(log.contains("REFUSING TO SERVE"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_matching_its_manifest_serves_and_stops_when_its_configuration_is_changed_on_disk() {
    let release = release();
    let config = release.path("madoguchi.toml");
    std::fs::write(&config, "checkpoint_secs = 60\n").unwrap();
    let manifest = release.sign("manifest", &release.binary, &[&config]);
    let mut args = release.serve_args(&manifest);
    args.extend(["--config", config.to_str().unwrap(), "--integrity-every", "1"]);
    let counter = TestCounter::start_with(&release.binary, Engine::Sqlite, &args).await;

    let (status, page) = get(&counter, "/").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(get(&counter, "/t/aoba-city/f/water-start").await.0, 200);
    assert!(integrity_alerts(&counter).await.is_empty());
    assert!(stderr_log(&counter).contains("integrity check passed"), "{}", stderr_log(&counter));

    // A changed setting on disk (which the next restart would load) is
    // caught while the counter runs, without a restart.
    std::fs::write(&config, "checkpoint_secs = 61\n").unwrap();
    let changed = Instant::now();
    loop {
        if get(&counter, "/").await.0 == 503 {
            break;
        }
        assert!(changed.elapsed() < Duration::from_secs(90), "never refused:\n{}", stderr_log(&counter));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let alerts = integrity_alerts(&counter).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].0, "config");
    assert!(alerts[0].1.contains(&format!("config {}: sha256 ", config.display())), "{alerts:?}");
    assert!(!alerts[0].1.contains("checkpoint_secs"), "never the file's contents: {alerts:?}");
    assert!(!stderr_log(&counter).contains("checkpoint_secs = 61"), "never the file's contents in the logs");
}

/// The counter's stylesheet and script as they were compiled in.
const STYLE_CSS: &str = include_str!("../../../counter/src/assets/style.css");
const FORM_JS: &str = include_str!("../../../counter/src/assets/form.js");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_templates_and_assets_are_the_bytes_compiled_in_so_a_file_changed_on_disk_is_never_served() {
    let counter = crate::start(Engine::Sqlite).await;
    let (status, css) = get(&counter, "/assets/style.css").await;
    assert_eq!(status, 200);
    assert_eq!(css, STYLE_CSS, "the stylesheet is the compiled-in one, byte for byte");
    assert_eq!(get(&counter, "/assets/form.js").await.1, FORM_JS);
    let (_, portal) = get(&counter, "/").await;

    // Change a byte of a scratch copy of the source tree's template and
    // assets (what a web root would be, if there were one): nothing
    // served changes.
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../counter/src");
    let scratch = tempfile::tempdir().unwrap();
    for file in ["assets/style.css", "assets/form.js", "templates/portal.html", "templates/base.html"] {
        let copy = scratch.path().join(file);
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::copy(source.join(file), &copy).unwrap();
        flip_byte(&copy, 10);
        assert_ne!(std::fs::read(&copy).unwrap(), std::fs::read(source.join(file)).unwrap());
    }
    assert_eq!(get(&counter, "/assets/style.css").await.1, STYLE_CSS);
    assert_eq!(get(&counter, "/assets/form.js").await.1, FORM_JS);
    assert_eq!(get(&counter, "/").await.1, portal);

    // The counter holds no template or asset file open: there is no web
    // root, only the binary (whose hash the integrity check covers).
    let pid = counter.pid().unwrap();
    let open: Vec<PathBuf> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .collect();
    let web = |p: &Path| matches!(p.extension().and_then(OsStr::to_str), Some("html" | "css" | "js" | "toml"));
    assert!(!open.iter().any(|p| web(p)), "{open:?}");
}
