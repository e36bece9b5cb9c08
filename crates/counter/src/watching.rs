//! The counter's side of the watch (docs/watch.md): reads of submission
//! data seen here — a desk key's sync pull, a console account's reads —
//! are shown to the rules; every finding is an alert leaf in the ledger
//! (which the alert dispatcher mails and posts on), and a finding that
//! freezes stops the principal at once: a desk key is suspended, a
//! console account locked with its sessions ended.

use crate::Counter;

/// Who read, as the watch and the freeze need it.
pub(crate) enum Reader<'a> {
    Desk { desk_id: &'a str },
    Staff { login: &'a str },
}

impl Reader<'_> {
    fn principal(&self) -> String {
        match self {
            Reader::Desk { desk_id } => format!("desk:{desk_id}"),
            Reader::Staff { login } => format!("staff:{login}"),
        }
    }
}

/// What one read took: records counted, and planted applicants among them.
pub(crate) struct Seen {
    pub records: u64,
    pub honeytokens: u64,
}

/// Shows one read to the rules and acts on what they find. Returns true
/// when the reader is frozen now: nothing of this read may be sent.
pub(crate) async fn observe(
    counter: &Counter,
    reader: Reader<'_>,
    tenant: &str,
    seen: Seen,
    source: Option<&str>,
) -> Result<bool, store::StoreError> {
    let principal = reader.principal();
    let read = watch::Read {
        principal: principal.clone(),
        tenant: tenant.to_owned(),
        records: seen.records,
        source: source.map(str::to_owned),
        at: counter.watch_now(),
        honeytokens: seen.honeytokens,
    };
    let findings = match counter.watch.lock() {
        Ok(mut rules) => rules.observe(&read),
        // A panic elsewhere poisoned the rules: refuse rather than serve unwatched.
        Err(_) => return Ok(true),
    };
    let mut frozen = false;
    for finding in findings {
        tracing::warn!(%principal, %tenant, rule = finding.rule(), "watch: {finding}");
        metrics::counter!("watch_findings_total", "rule" => finding.rule()).increment(1);
        let mut alert = store::event(
            ledger::EventKind::Alert,
            "system:watch",
            Some(tenant),
            Some(&principal),
            &format!("{}: {finding}", finding.rule()),
        );
        alert.source = source.map(str::to_owned);
        counter.store.record_event(&alert).await?;
        if finding.freezes() && !frozen {
            frozen = true;
            match reader {
                Reader::Desk { desk_id } => {
                    counter.store.set_desk_suspended(desk_id, true).await?;
                    let note = store::event(
                        ledger::EventKind::Alert,
                        "system:watch",
                        Some(tenant),
                        Some(&principal),
                        "frozen: desk key suspended",
                    );
                    counter.store.record_event(&note).await?;
                }
                Reader::Staff { login } => {
                    counter.store.freeze_staff_account(login, &format!("{}: {finding}", finding.rule())).await?;
                }
            }
        }
    }
    Ok(frozen)
}
