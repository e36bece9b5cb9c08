//! `madoguchi form check` validates definitions and names the line.

use std::process::Command;

use crate::madoguchi;

#[test]
fn the_demo_forms_pass_the_check() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/forms");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    // The six forms every demo municipality has, and the two crisis-mode
    // templates of the prefecture.
    assert_eq!(files.len(), 8);
    let out = Command::new(madoguchi()).args(["form", "check"]).args(&files).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches(": ok").count(), 8);
}

#[test]
fn a_broken_definition_is_refused_with_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.toml");
    std::fs::write(
        &file,
        "id = \"broken\"\ntitle = { ja = \"壊れた様式\" }\n\n[[fields]]\nname = \"age\"\ntype = \"number\"\nlabel = { ja = \"年齢\" }\n\n[[fields]]\nname = \"why\"\ntype = \"text\"\nlabel = { ja = \"理由\" }\nshow_when = { field = \"nothing\", equals = \"x\" }\n",
    )
    .unwrap();
    let out = Command::new(madoguchi()).args(["form", "check"]).arg(&file).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.toml:"), "{stderr}");
    assert!(stderr.contains("nothing"), "{stderr}");
    let line: usize = stderr.split(':').nth(1).unwrap().parse().unwrap();
    assert!((9..=13).contains(&line), "points at the second field, got line {line}: {stderr}");

    std::fs::write(&file, "id = \"x\"\ntitle = { ja = \"x\" \n").unwrap();
    let out = Command::new(madoguchi()).args(["form", "check"]).arg(&file).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("broken.toml:2:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
