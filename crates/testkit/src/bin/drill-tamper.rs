//! The tamper drill (issue 8): nothing altered is ever served, and an alert
//! is raised.
//!
//! 1. A release key is made and a manifest signed for a copy of the binary
//!    and a configuration file (`madoguchi integrity keygen|sign`); the
//!    counter is started from that copy with `--integrity-refuse true
//!    --integrity-every 2` and shown to serve.
//! 2. A byte of a template and of an asset is changed on disk, in a scratch
//!    copy of the source tree's files (the repository is not touched): the
//!    bytes served do not change, since they are compiled in.
//! 3. The binary file is swapped under the running counter (`mv` of a copy
//!    with one byte of the embedded stylesheet changed): the time until an
//!    alert is in the ledger and the counter answers 503 to everything, and
//!    whether an altered byte was served meanwhile.
//! 4. The counter is restarted from the swapped binary: it must refuse from
//!    the first request. As a control, the same swapped binary started
//!    without the check does serve the altered stylesheet.
//!
//! Usage: drill-tamper MADOGUCHI_BINARY [--every SECS]
//! (loopback only; about half a minute with a release binary).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use testkit::{Engine, TestCounter};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The bytes changed inside the swapped binary: one character of the
/// embedded stylesheet (the primary colour).
const NEEDLE: &[u8] = b"--primary: #0b4f8a;";
const CHANGED: &[u8] = b"--primary: #0b4f8f;";

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(binary) = args.next().map(PathBuf::from) else {
        eprintln!("usage: drill-tamper MADOGUCHI_BINARY [--every SECS]");
        return ExitCode::from(2);
    };
    let mut every = 2u64;
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--every", Some(value)) => every = value,
            _ => {
                eprintln!("unknown flag or value: {flag}");
                return ExitCode::from(2);
            }
        }
    }
    match drill(&binary, every).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("the tamper drill missed its targets");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("drill-tamper: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `madoguchi ARGS` and returns what it printed; fails if it failed.
fn madoguchi(binary: &Path, args: &[&std::ffi::OsStr]) -> Result<String> {
    let output = std::process::Command::new(binary).args(args).env_remove("MADOGUCHI_CONFIG").output()?;
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        return Err(format!("madoguchi {args:?} failed:\n{said}").into());
    }
    Ok(said)
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, Vec<u8>) {
    match client.get(url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.bytes().await.map(|b| b.to_vec()).unwrap_or_default())
        }
        Err(_) => (0, Vec::new()),
    }
}

/// The integrity alerts in the counter's ledger (subjects).
async fn alerts(counter: &TestCounter) -> Result<Vec<String>> {
    let entries = counter.store().await.ledger_entries(0, 100_000).await?;
    Ok(entries
        .into_iter()
        .filter(|e| e.event.kind == ledger::EventKind::Alert && e.event.actor == "system:integrity")
        .map(|e| e.event.subject.unwrap_or_default())
        .collect())
}

/// Every path a resident, a desk or an operator might ask for.
const PATHS: [&str; 6] =
    ["/", "/assets/style.css", "/assets/form.js", "/t/aoba-city/f/water-start", "/healthz", "/ledger/checkpoint"];

async fn all_refused(client: &reqwest::Client, base: &str) -> bool {
    for path in PATHS {
        if get(client, &format!("{base}{path}")).await.0 != 503 {
            return false;
        }
    }
    let confirm = client
        .post(format!("{base}/t/aoba-city/f/water-start/confirm"))
        .form(&testkit::water_start_answers(""))
        .send()
        .await;
    confirm.map(|r| r.status().as_u16()).unwrap_or(0) == 503
}

async fn drill(release_binary: &Path, every: u64) -> Result<bool> {
    let style = counter::STYLE_CSS.as_bytes();
    let work = tempfile::tempdir()?;
    let installed = work.path().join("bin/madoguchi");
    std::fs::create_dir_all(work.path().join("bin"))?;
    std::fs::copy(release_binary, &installed)?;
    let size_mib = std::fs::metadata(&installed)?.len() as f64 / (1024.0 * 1024.0);

    // 1. Release: key, manifest over the binary and the configuration.
    let key = work.path().join("release.key");
    let public = work.path().join("release.pub");
    let config = work.path().join("madoguchi.toml");
    let manifest = work.path().join("manifest");
    std::fs::write(&config, "checkpoint_secs = 60\n")?;
    madoguchi(&installed, &["integrity".as_ref(), "keygen".as_ref(), "--out".as_ref(), key.as_os_str()])?;
    let signing = Instant::now();
    madoguchi(
        &installed,
        &[
            "integrity".as_ref(),
            "sign".as_ref(),
            "--key".as_ref(),
            key.as_os_str(),
            "--binary".as_ref(),
            installed.as_os_str(),
            "--config".as_ref(),
            config.as_os_str(),
            "--out".as_ref(),
            manifest.as_os_str(),
        ],
    )?;
    let sign_ms = signing.elapsed().as_secs_f64() * 1000.0;
    let every_text = every.to_string();
    let args = [
        "--config",
        config.to_str().ok_or("a UTF-8 temporary path")?,
        "--integrity-manifest",
        manifest.to_str().ok_or("a UTF-8 temporary path")?,
        "--integrity-public-key",
        public.to_str().ok_or("a UTF-8 temporary path")?,
        "--integrity-refuse",
        "true",
        "--integrity-every",
        every_text.as_str(),
    ];
    let starting = Instant::now();
    let mut counter = TestCounter::start_with(&installed, Engine::Sqlite, &args).await;
    let start_s = starting.elapsed().as_secs_f64();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let base = counter.url.clone();
    let (portal_status, portal) = get(&client, &format!("{base}/")).await;
    let (css_status, css) = get(&client, &format!("{base}/assets/style.css")).await;
    let serving = portal_status == 200 && css_status == 200 && css == style;
    println!(
        "1. signed release ({size_mib:.1} MiB binary + config, {sign_ms:.0} ms); counter started in {start_s:.2} s: \
         / {portal_status}, /assets/style.css {css_status} (the compiled-in bytes: {})",
        css == style
    );

    // 2. A byte of a template and of an asset changed on disk.
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../counter/src");
    let scratch = work.path().join("source-copy");
    for file in ["templates/portal.html", "assets/style.css"] {
        let copy = scratch.join(file);
        std::fs::create_dir_all(copy.parent().ok_or("a parent")?)?;
        let mut bytes = std::fs::read(source.join(file))?;
        bytes[10] ^= 0x01;
        std::fs::write(&copy, bytes)?;
    }
    let watching = Instant::now();
    let (mut requests, mut unchanged) = (0usize, true);
    while watching.elapsed() < Duration::from_secs(every * 2 + 1) {
        let (s1, p) = get(&client, &format!("{base}/")).await;
        let (s2, c) = get(&client, &format!("{base}/assets/style.css")).await;
        requests += 2;
        unchanged &= s1 == 200 && s2 == 200 && p == portal && c == style;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let quiet = alerts(&counter).await?.is_empty();
    println!(
        "2. a byte of templates/portal.html and assets/style.css changed on disk (scratch copy of the source tree): \
         {requests} requests over {:.1} s, served bytes unchanged: {unchanged}; alerts: {}",
        watching.elapsed().as_secs_f64(),
        if quiet { "none (nothing the counter serves changed)" } else { "some" }
    );

    // 3. The binary swapped on disk under the running counter.
    let mut swapped = std::fs::read(&installed)?;
    let mut changed_at = 0usize;
    let mut from = 0usize;
    while let Some(at) = swapped[from..].windows(NEEDLE.len()).position(|w| w == NEEDLE) {
        swapped[from + at..from + at + NEEDLE.len()].copy_from_slice(CHANGED);
        changed_at += 1;
        from += at + NEEDLE.len();
    }
    if changed_at == 0 {
        return Err("the stylesheet was not found in the binary".into());
    }
    let altered_style: Vec<u8> = {
        let text = counter::STYLE_CSS.replacen(
            std::str::from_utf8(NEEDLE).unwrap_or_default(),
            std::str::from_utf8(CHANGED).unwrap_or_default(),
            1,
        );
        text.into_bytes()
    };
    let staged = work.path().join("bin/.madoguchi.new");
    std::fs::write(&staged, &swapped)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755))?;
    }
    std::fs::rename(&staged, &installed)?;
    let swapped_at = Instant::now();
    let (mut alert_after, mut refused_after, mut altered_served) = (None, None, 0usize);
    while swapped_at.elapsed() < Duration::from_secs(every * 3 + 10) {
        let (status, body) = get(&client, &format!("{base}/assets/style.css")).await;
        if status == 200 && body != style {
            altered_served += 1;
        }
        if refused_after.is_none() && status == 503 && all_refused(&client, &base).await {
            refused_after = Some(swapped_at.elapsed());
        }
        if alert_after.is_none() && !alerts(&counter).await?.is_empty() {
            alert_after = Some(swapped_at.elapsed());
        }
        if alert_after.is_some() && refused_after.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let subjects = alerts(&counter).await?;
    let secs = |d: Option<Duration>| d.map_or("never".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
    println!(
        "3. binary swapped on disk (1 byte of the embedded stylesheet, {changed_at} place(s)): alert in the ledger \
         after {}, 503 to everything after {}; altered bytes served: {altered_served}; alerts: {subjects:?}",
        secs(alert_after),
        secs(refused_after)
    );

    // 4. Restarted from the swapped binary.
    let restarting = Instant::now();
    counter.restart().await;
    let back_s = restarting.elapsed().as_secs_f64();
    let base = counter.url.clone();
    let (first_status, first_body) = get(&client, &format!("{base}/assets/style.css")).await;
    let refuses_first = first_status == 503 && all_refused(&client, &base).await;
    let after_restart = alerts(&counter).await?;
    println!(
        "4. restarted from the swapped binary (listening after {back_s:.2} s): first request {first_status}, \
         503 to everything: {refuses_first}; altered stylesheet served: {}; alerts now: {after_restart:?}",
        first_body == altered_style
    );
    drop(counter);

    // Control: the same swapped binary without the check serves the change.
    let control = TestCounter::start_with(&installed, Engine::Sqlite, &[]).await;
    let (control_status, control_css) = get(&client, &format!("{}/assets/style.css", control.url)).await;
    let control_altered = control_status == 200 && control_css == altered_style;
    println!(
        "   control: the swapped binary started without --integrity-manifest serves the altered stylesheet: \
         {control_altered}"
    );
    drop(control);

    let limit = Duration::from_secs(every * 2 + 5);
    let detected = matches!((alert_after, refused_after), (Some(a), Some(r)) if a <= limit && r <= limit);
    println!(
        "\n| tamper | detected (alert in the ledger) | refusing (503 to everything) | altered bytes served |\n\
         |---|---|---|---|\n\
         | a byte of a template and of an asset on disk | nothing to detect: served bytes unchanged ({requests} requests) | no (still serving) | 0 |\n\
         | binary swapped on disk, counter running (checks every {every} s) | {} | {} | {altered_served} |\n\
         | restart from the swapped binary | at start ({} alerts in all) | from the first request: {refuses_first} | {} |",
        secs(alert_after),
        secs(refused_after),
        after_restart.len(),
        usize::from(first_body == altered_style)
    );
    Ok(serving
        && unchanged
        && quiet
        && detected
        && altered_served == 0
        && refuses_first
        && first_body != altered_style
        && after_restart.iter().any(|s| s == "binary-image")
        && control_altered)
}
