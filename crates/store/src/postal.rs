//! The postal-code table behind the resident pages' address help
//! (`docs/postal.md`): public data, replaced whole by each import, looked up
//! by 7-digit code.

use sqlx::Row;

use crate::journal::{placeholders, PARAMETERS_PER_STATEMENT};
use crate::{Result, Store};

/// One row of the table: a code and one of its 町域 (parsed by `forms::postal`).
pub use forms::postal::PostalRow;

/// What a code names: its 都道府県 and 市区町村 (of its first row) and
/// every 町域 it covers, in the table's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalAddress {
    pub prefecture: String,
    pub city: String,
    pub towns: Vec<String>,
}

impl Store {
    /// Replaces the whole table with `rows` in one transaction: a failed
    /// import leaves the previous table. Returns how many rows were written.
    pub async fn import_postal_codes(&self, rows: &[PostalRow]) -> Result<u64> {
        const COLUMNS: usize = 5;
        let mut tx = self.db.begin().await?;
        sqlx::query("DELETE FROM postal_codes").execute(&mut *tx).await?;
        let mut written = 0;
        for (batch_index, batch) in rows.chunks(PARAMETERS_PER_STATEMENT / COLUMNS).enumerate() {
            let first = batch_index * (PARAMETERS_PER_STATEMENT / COLUMNS);
            let sql = format!(
                "INSERT INTO postal_codes (code, seq, prefecture, city, town) VALUES {}",
                placeholders(batch.len(), COLUMNS)
            );
            let mut query = sqlx::query(&sql);
            for (i, row) in batch.iter().enumerate() {
                query = query
                    .bind(row.code.clone())
                    .bind(i64::try_from(first + i).unwrap_or(i64::MAX))
                    .bind(row.prefecture.clone())
                    .bind(row.city.clone())
                    .bind(row.town.clone());
            }
            written += query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }

    /// The place `code` (seven digits) names, or None when the table does
    /// not have it.
    pub async fn postal_lookup(&self, code: &str) -> Result<Option<PostalAddress>> {
        let rows = sqlx::query("SELECT prefecture, city, town FROM postal_codes WHERE code = $1 ORDER BY seq")
            .bind(code)
            .fetch_all(&self.db)
            .await?;
        let Some(first) = rows.first() else { return Ok(None) };
        let mut address =
            PostalAddress { prefecture: first.try_get("prefecture")?, city: first.try_get("city")?, towns: Vec::new() };
        for row in &rows {
            let town: String = row.try_get("town")?;
            if !town.is_empty() && !address.towns.contains(&town) {
                address.towns.push(town);
            }
        }
        Ok(Some(address))
    }

    /// How many rows the table has (the demo loads its own table only
    /// into an empty one).
    pub async fn postal_row_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM postal_codes").fetch_one(&self.db).await?.try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
