//! A desk set up by the real commands (`keys init`, `desk init`, the
//! counter's `keys import`) in a temporary directory, and `desk serve`
//! started from it: for tests and drills.

use std::path::{Path, PathBuf};
use std::process::Command;

use store::ReceiptNumber;

use crate::TestCounter;

pub const PASSPHRASE: &str = "correct horse battery staple 窓口";

/// A desk directory set up by the real commands, registered at `counter`.
pub struct TestDesk {
    dir: tempfile::TempDir,
    pub desk_id: String,
    binary: PathBuf,
}

impl TestDesk {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .arg("--desk-dir")
            .arg(self.path())
            .env("MADOGUCHI_PASSPHRASE", PASSPHRASE)
            .env("MADOGUCHI_KDF", "insecure-test")
            .env_remove("MADOGUCHI_CONFIG");
        command
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run madoguchi");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn sync(&self) -> String {
        self.run(&["desk", "sync"])
    }

    pub fn unlock(&self) -> desk::KeyRing {
        desk::KeyRing::unlock(&self.path().join("keys"), PASSPHRASE).expect("unlock")
    }

    pub async fn store(&self) -> desk::DeskStore {
        desk::DeskStore::open(&format!("sqlite://{}", self.path().join("desk.sqlite").display()))
            .await
            .expect("desk store")
    }
}

pub fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(extension))
        .collect()
}

impl TestDesk {
    /// An empty desk directory, before any ceremony.
    pub fn empty(binary: &Path, desk_id: &str) -> TestDesk {
        TestDesk { dir: tempfile::tempdir().expect("temp dir"), desk_id: desk_id.to_owned(), binary: binary.to_owned() }
    }

    /// Runs the ceremony for `tenant` with the real commands and imports
    /// both public keys at `counter`.
    pub fn set_up(binary: &Path, counter: &TestCounter, tenant: &str) -> TestDesk {
        let desk = TestDesk::empty(binary, &format!("{tenant}-desk1"));
        let printed = desk.run(&["keys", "init", "--tenant", tenant]);
        assert!(printed.contains("fingerprint"), "{printed}");
        desk.run(&["desk", "init", "--tenant", tenant, "--desk-id", &desk.desk_id, "--counter-url", &counter.url]);
        let mut exported = files_with_extension(desk.path(), ".public-key");
        exported.extend(files_with_extension(desk.path(), ".desk-key"));
        assert_eq!(exported.len(), 2);
        let out = Command::new(binary)
            .args(["keys", "import"])
            .args(&exported)
            .arg("--data-dir")
            .arg(counter.data_dir())
            .args(["--database", &counter.database.url])
            .env_remove("MADOGUCHI_CONFIG")
            .output()
            .expect("run madoguchi");
        assert!(out.status.success(), "keys import: {}", String::from_utf8_lossy(&out.stderr));
        desk
    }

    /// The tenant this desk works for.
    pub fn tenant(&self) -> &str {
        self.desk_id.trim_end_matches("-desk1")
    }
}

/// A running `madoguchi desk serve`.
pub struct DeskServer {
    pub url: String,
    child: tokio::process::Child,
}

impl DeskServer {
    /// The desk process's peak resident memory so far, in KiB (VmHWM).
    pub fn peak_memory_kib(&self) -> u64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }
}

impl TestDesk {
    pub async fn serve(&self) -> DeskServer {
        self.serve_with(&[]).await
    }

    pub async fn serve_with(&self, extra: &[&str]) -> DeskServer {
        use tokio::io::AsyncBufReadExt;
        let mut args = vec!["desk", "serve", "--listen", "127.0.0.1:0", "--sync-secs", "1"];
        // Synthetic applicants only where a test asks for them: most tests
        // count what residents sent.
        if !extra.contains(&"--honeytokens-per-form") {
            args.extend_from_slice(&["--honeytokens-per-form", "0"]);
        }
        args.extend_from_slice(extra);
        let mut command = tokio::process::Command::from(self.command(&args));
        let mut child = command.stdout(std::process::Stdio::piped()).kill_on_drop(true).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let url = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("madoguchi desk: ") {
                    return url.trim_end_matches('/').to_owned();
                }
            }
            panic!("the desk did not start")
        })
        .await
        .unwrap();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        DeskServer { url, child }
    }

    /// Sets the watch's limits in desk.toml (a `[watch]` table's keys).
    pub fn set_watch_limits(&self, limits: &str) {
        let path = self.path().join("desk.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&format!("\n[watch]\n{limits}\n"));
        std::fs::write(&path, text).unwrap();
    }

    /// Fills the desk's store as sync would, page by page, with `count`
    /// records of demo form `FORMS[form_index]` numbered `year`-1 … (the
    /// same made-up applicant in each).
    pub async fn fill_store(&self, form: &str, form_index: usize, year: i64, count: i64) {
        let keys = self.unlock();
        let store = self.store().await;
        store.put_form(form, 1, counter::demo::FORMS[form_index].1).await.unwrap();
        let payload = serde_json::json!({"form_id": form, "values": {
            "applicant": {"Name": {"name": "山田 太郎", "kana": "ヤマダ タロウ"}},
            "phone": {"Phone": "09012345678"},
            "email": {"Email": "taro@example.jp"},
            "property": {"Address": {"postal": "100-0001", "region": "みどり県青葉市", "line": "中央1-2-3 グリーンハイツ101"}},
            "dwelling": {"Choice": "apartment"},
            "start_date": {"Date": "2026-12-01"},
            "payment": {"Choice": "transfer"},
            "bank_name": {"Text": "みどり銀行"},
            "notes": {"Text": "鍵は管理人室で受け取ります。"},
            "consent": {"Consent": true}
        }})
        .to_string();
        let message_key = seal::ResidentKeys::derive("ABCDEFGHJKLM", "0000-0000-0000").message_key();
        for first in (1..=count).step_by(2000) {
            let last = (first + 1999).min(count);
            let page: Vec<_> = (first..=last)
                .map(|seq| {
                    let receipt = ReceiptNumber { year, seq };
                    desk::testing::stored_record(&keys, receipt, form, 1_764_000_000, payload.as_bytes(), &message_key)
                })
                .collect();
            store.store_page(self.tenant(), &page, ReceiptNumber { year, seq: last }).await.unwrap();
        }
    }

    /// Creates a staff account with the real command and returns its code.
    pub fn add_staff(&self, login: &str, name: &str) -> String {
        self.add_staff_as(login, name, "processor")
    }

    pub fn add_staff_as(&self, login: &str, name: &str, role: &str) -> String {
        let printed = self.run(&["desk", "add-staff", "--login", login, "--name", name, "--role", role]);
        printed.lines().last().unwrap().trim().to_owned()
    }
}
