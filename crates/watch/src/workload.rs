//! A scripted month of normal municipal work, for measuring false
//! positives: the rules' own tests replay it in memory, and the
//! false-positive drill (`scripts/drill-theft`) sends it to a real desk.
//!
//! Each working day (Monday to Friday) every tenant has two to four
//! clerks who open 20–60 records each between 8:30 and 17:15 JST (none in
//! the lunch hour, one in twenty in overtime until 19:15), twice as many on
//! Mondays and at month end; one clerk in ten exports 20–80 records late
//! in the afternoon; the tenant's desk key syncs every five minutes during
//! office hours (new records only). Each tenant works from one town-hall
//! address a day, drawn from its own network.

use crate::{Read, DAY};

/// Reads of `days` days from `start` (unix seconds of a Monday 00:00 JST)
/// for `tenants`, in time order; `seed` makes it repeatable.
pub fn normal_work(tenants: &[&str], days: i64, start: i64, seed: u64) -> Vec<Read> {
    let mut seed = seed.max(1);
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n.max(1)
    };
    let mut reads = Vec::new();
    for day in 0..days {
        let weekday = day % 7;
        if weekday >= 5 {
            continue;
        }
        let busy = if weekday == 0 || day % 30 >= 27 { 2 } else { 1 };
        for (t, tenant) in tenants.iter().enumerate() {
            let hall = format!("10.{t}.1.{}", 10 + next(40));
            let mut push = |offset: i64, principal: String, records: u64| {
                reads.push(Read {
                    principal,
                    tenant: (*tenant).to_owned(),
                    records,
                    source: Some(hall.clone()),
                    at: start + offset,
                    honeytokens: 0,
                })
            };
            for clerk in 0..(2 + t % 3) {
                let principal = format!("staff:{tenant}-clerk{clerk}");
                let opened = busy * (20 + next(40));
                for _ in 0..opened {
                    // 8:30–17:15 without the lunch hour, some overtime.
                    let mut minute = 510 + next(525) as i64;
                    if (720..780).contains(&minute) {
                        minute += 60;
                    }
                    if next(20) == 0 {
                        minute = 1035 + next(120) as i64;
                    }
                    push(day * DAY + minute * 60, principal.clone(), 1);
                }
                if next(10) == 0 {
                    // An export of the day's applications.
                    push(day * DAY + 16 * 3600 + next(1800) as i64, principal.clone(), 20 + next(60));
                }
            }
            for slot in 0..(9 * 12) {
                // New records only: nothing counted, the network is.
                push(day * DAY + 8 * 3600 + slot * 300, format!("desk:{tenant}-desk1"), 0);
            }
        }
    }
    reads.sort_by(|a, b| (a.at, &a.principal).cmp(&(b.at, &b.principal)));
    reads
}
