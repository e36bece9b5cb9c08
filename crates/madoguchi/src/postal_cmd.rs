//! `madoguchi postal …`: the postal-code table behind the resident pages'
//! address help (docs/postal.md).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use forms::postal::Encoding;

use crate::config::StoreArgs;

#[derive(Debug, Subcommand)]
pub enum PostalCommand {
    /// Replace the postal-code table with Japan Post's KEN_ALL.CSV (全国一括,
    /// https://www.post.japanpost.jp/zipcode/download.html), unzipped. The
    /// file's quirks (split 町域 lines, notes in parentheses, 以下に掲載がない
    /// 場合) are undone; the whole table is replaced in one transaction.
    Import {
        /// The CSV file in KEN_ALL's 15-column layout.
        file: PathBuf,
        /// The file's encoding: utf8, sjis (Japan Post's), or detect (UTF-8
        /// if it is valid UTF-8, else Shift_JIS).
        #[arg(long, value_name = "ENCODING", default_value = "detect")]
        encoding: Encoding,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run(command: PostalCommand) -> anyhow::Result<()> {
    match command {
        PostalCommand::Import { file, encoding, store } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let rows = forms::postal::parse_bytes(&bytes, encoding)
                .map_err(|err| anyhow::anyhow!("{}: {err}", file.display()))?;
            if rows.is_empty() {
                anyhow::bail!("{}: no postal codes in the file; the table was left as it was", file.display());
            }
            let codes = rows.iter().map(|r| r.code.as_str()).collect::<std::collections::HashSet<_>>().len();
            let store = store.into_config()?.open().await?;
            let written = store.import_postal_codes(&rows).await.context("importing the postal codes")?;
            println!("imported {codes} postal codes ({written} rows) from {}", file.display());
            Ok(())
        }
    }
}
