//! # watch — noticing theft while it happens
//!
//! This crate owns the rules that decide, from the reads of submission
//! data (a record opened on the desk, an export, a desk key's sync pull,
//! an admin read), that a principal is stealing: a honeytoken touched, a
//! burst beyond what the role justifies, reads over the day above the
//! principal's own baseline (mean + 3σ of its daily totals), one account
//! used from many networks, or bulk reading at night. Reads are aggregated
//! per principal across every source address.
//!
//! It is pure: no I/O and no clock (every read carries its time, so a
//! month of work can be replayed in a test in milliseconds). It decides;
//! the counter and the desk freeze, alert and log. It must never hold or
//! return the content of a record: reads are counts, names and addresses.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

pub mod workload;

/// One read of submission data, as the counter or the desk saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// "staff:tanaka", "desk:aoba-desk1", …
    pub principal: String,
    pub tenant: String,
    /// Records read outside the principal's normal course: for staff,
    /// every record opened or exported; for a desk key's sync, the records
    /// that desk had already received (a re-pull), since pulling what is
    /// new is its job. The rules count these.
    pub records: u64,
    /// The source address, as text (IPv4 or IPv6).
    pub source: Option<String>,
    /// Unix seconds.
    pub at: i64,
    /// Records among them that are honeytokens.
    pub honeytokens: u64,
}

/// The limits, per tenant (defaults in [`Thresholds::default`]; the
/// reasoning is in docs/watch.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Burst: more than `burst_records` records within `burst_window_secs`.
    pub burst_records: u64,
    pub burst_window_secs: i64,
    /// Low-and-slow: today's records above mean + `baseline_sigmas` σ of
    /// the principal's daily totals over `baseline_days`, and above
    /// `daily_floor` (so a quiet account's first busy day is not theft).
    pub baseline_days: i64,
    pub baseline_sigmas: f64,
    pub daily_floor: u64,
    /// Without `baseline_min_days` days of history, `daily_floor` alone.
    pub baseline_min_days: i64,
    /// Low-and-slow over a week: the last 7 days' records above
    /// 7·mean + `baseline_sigmas`·σ·√7 of the daily totals, and above
    /// `weekly_floor` (a thief staying under the daily limit every day).
    pub weekly_floor: u64,
    /// Many sources: more than this many networks (/24, /64) in a day.
    pub max_networks_per_day: usize,
    /// …or more than this many distinct addresses in 7 days.
    pub max_addresses_per_week: usize,
    /// Off-hours: more than `night_records` records between `night_from`
    /// and `night_to` o'clock, Japan time.
    pub night_from: u8,
    pub night_to: u8,
    pub night_records: u64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            burst_records: 150,
            burst_window_secs: 600,
            baseline_days: 28,
            baseline_sigmas: 3.0,
            daily_floor: 150,
            baseline_min_days: 7,
            weekly_floor: 500,
            max_networks_per_day: 4,
            max_addresses_per_week: 12,
            night_from: 22,
            night_to: 6,
            night_records: 30,
        }
    }
}

/// What a rule found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Finding {
    Honeytoken { records: u64 },
    Burst { records: u64, window_secs: i64 },
    LowAndSlow { today: u64, limit: u64 },
    SlowWeek { week: u64, limit: u64 },
    ManyNetworks { networks: usize },
    ManyAddresses { addresses: usize },
    Night { records: u64 },
}

/// Every rule's name, as [`Finding::rule`] gives it: so a node can report
/// each rule's count from its start, zeros included.
pub const RULES: &[&str] =
    &["honeytoken", "burst", "low_and_slow", "slow_week", "many_networks", "many_addresses", "night"];

impl Finding {
    /// Whether the principal is frozen at once (theft), or an alert is
    /// raised for a person to look at.
    pub fn freezes(&self) -> bool {
        !matches!(self, Finding::Night { .. })
    }

    pub fn rule(&self) -> &'static str {
        match self {
            Finding::Honeytoken { .. } => "honeytoken",
            Finding::Burst { .. } => "burst",
            Finding::LowAndSlow { .. } => "low_and_slow",
            Finding::SlowWeek { .. } => "slow_week",
            Finding::ManyNetworks { .. } => "many_networks",
            Finding::ManyAddresses { .. } => "many_addresses",
            Finding::Night { .. } => "night",
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Honeytoken { records } => write!(f, "opened {records} honeytoken record(s)"),
            Finding::Burst { records, window_secs } => write!(f, "{records} records in {window_secs} s"),
            Finding::LowAndSlow { today, limit } => {
                write!(f, "{today} records today, above its baseline limit {limit}")
            }
            Finding::SlowWeek { week, limit } => {
                write!(f, "{week} records in 7 days, above its baseline limit {limit}")
            }
            Finding::ManyNetworks { networks } => write!(f, "used from {networks} networks today"),
            Finding::ManyAddresses { addresses } => write!(f, "used from {addresses} addresses in 7 days"),
            Finding::Night { records } => write!(f, "{records} records read at night"),
        }
    }
}

const DAY: i64 = 86_400;
/// Japan time, for days and night hours (no daylight saving).
const JST: i64 = 9 * 3600;

fn day_of(at: i64) -> i64 {
    (at + JST).div_euclid(DAY)
}

fn hour_of(at: i64) -> u8 {
    ((at + JST).rem_euclid(DAY) / 3600) as u8
}

/// The network a source address is in: IPv4 /24, IPv6 /64.
pub fn network_of(source: &str) -> String {
    match source.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Err(_) => source.to_owned(),
    }
}

/// What the watch remembers of one principal.
#[derive(Debug, Default)]
struct Principal {
    recent: VecDeque<(i64, u64)>,
    recent_total: u64,
    /// Records per day (JST), the last `baseline_days` and today.
    daily: BTreeMap<i64, u64>,
    networks: HashMap<i64, HashSet<String>>,
    /// Day each address was last seen, for the 7-day count.
    addresses: HashMap<String, i64>,
    night: HashMap<i64, u64>,
    /// Rules already reported today, so one finding is raised once a day.
    reported: HashSet<(i64, &'static str)>,
}

/// The rules over every principal's reads.
#[derive(Debug, Default)]
pub struct Watch {
    defaults: Thresholds,
    per_tenant: HashMap<String, Thresholds>,
    principals: HashMap<String, Principal>,
}

impl Watch {
    pub fn new(defaults: Thresholds) -> Watch {
        Watch { defaults, per_tenant: HashMap::new(), principals: HashMap::new() }
    }

    /// A tenant's own limits.
    pub fn set_tenant(&mut self, tenant: &str, thresholds: Thresholds) {
        self.per_tenant.insert(tenant.to_owned(), thresholds);
    }

    pub fn thresholds(&self, tenant: &str) -> &Thresholds {
        self.per_tenant.get(tenant).unwrap_or(&self.defaults)
    }

    /// Takes in one read (in time order per principal) and returns what it
    /// newly triggers. Each rule fires at most once a day per principal,
    /// except honeytokens, which fire on every touch.
    pub fn observe(&mut self, read: &Read) -> Vec<Finding> {
        let limits = self.per_tenant.get(&read.tenant).unwrap_or(&self.defaults).clone();
        let state = self.principals.entry(read.principal.clone()).or_default();
        let today = day_of(read.at);
        let mut found = Vec::new();

        if read.honeytokens > 0 {
            found.push(Finding::Honeytoken { records: read.honeytokens });
        }

        // Burst: a sliding window of record counts.
        state.recent.push_back((read.at, read.records));
        state.recent_total += read.records;
        while let Some(&(at, n)) = state.recent.front() {
            if at > read.at - limits.burst_window_secs {
                break;
            }
            state.recent.pop_front();
            state.recent_total -= n;
        }
        if state.recent_total > limits.burst_records {
            found.push(Finding::Burst { records: state.recent_total, window_secs: limits.burst_window_secs });
        }

        // Low-and-slow: today against the principal's own past days.
        *state.daily.entry(today).or_default() += read.records;
        let oldest = today - limits.baseline_days;
        state.daily.retain(|day, _| *day >= oldest);
        state.networks.retain(|day, _| *day == today);
        state.night.retain(|day, _| *day >= today - 1);
        state.reported.retain(|(day, _)| *day >= today - 1);
        let today_total = state.daily.get(&today).copied().unwrap_or(0);
        let first_day = state.daily.keys().next().copied().unwrap_or(today);
        let history_days = today - first_day;
        let (limit, week_limit) = if history_days >= limits.baseline_min_days {
            // Days without reads count as zero.
            let days = history_days.min(limits.baseline_days) as f64;
            let past: Vec<f64> =
                (today - days as i64..today).map(|d| state.daily.get(&d).copied().unwrap_or(0) as f64).collect();
            let mean = past.iter().sum::<f64>() / days;
            let sigma = (past.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / days).sqrt();
            // Seven independent days: mean 7μ, deviation σ√7.
            let week = 7.0 * mean + limits.baseline_sigmas * sigma * 7f64.sqrt();
            (
                ((mean + limits.baseline_sigmas * sigma).ceil() as u64).max(limits.daily_floor),
                (week.ceil() as u64).max(limits.weekly_floor),
            )
        } else {
            (limits.daily_floor, limits.weekly_floor)
        };
        if today_total > limit {
            found.push(Finding::LowAndSlow { today: today_total, limit });
        }
        let week_total: u64 = state.daily.range(today - 6..=today).map(|(_, n)| n).sum();
        if week_total > week_limit && today_total <= limit {
            found.push(Finding::SlowWeek { week: week_total, limit: week_limit });
        }

        // One account from many networks.
        if let Some(source) = &read.source {
            let networks = state.networks.entry(today).or_default();
            networks.insert(network_of(source));
            if networks.len() > limits.max_networks_per_day {
                found.push(Finding::ManyNetworks { networks: networks.len() });
            }
            state.addresses.insert(source.clone(), today);
            state.addresses.retain(|_, day| *day > today - 7);
            if state.addresses.len() > limits.max_addresses_per_week {
                found.push(Finding::ManyAddresses { addresses: state.addresses.len() });
            }
        }

        // Bulk reading at night (JST); the night runs past midnight.
        let hour = hour_of(read.at);
        let night = if hour >= limits.night_from { today } else { today - 1 };
        if hour >= limits.night_from || hour < limits.night_to {
            let count = state.night.entry(night).or_default();
            *count += read.records;
            if *count > limits.night_records {
                found.push(Finding::Night { records: *count });
            }
        }

        // A night belongs to the day it began.
        found.retain(|f| match f {
            Finding::Honeytoken { .. } => true,
            Finding::Night { .. } => state.reported.insert((night, f.rule())),
            _ => state.reported.insert((today, f.rule())),
        });
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_finding_names_a_listed_rule() {
        let all = [
            Finding::Honeytoken { records: 1 },
            Finding::Burst { records: 1, window_secs: 1 },
            Finding::LowAndSlow { today: 1, limit: 1 },
            Finding::SlowWeek { week: 1, limit: 1 },
            Finding::ManyNetworks { networks: 1 },
            Finding::ManyAddresses { addresses: 1 },
            Finding::Night { records: 1 },
        ];
        let named: Vec<&str> = all.iter().map(Finding::rule).collect();
        assert_eq!(named, RULES);
    }

    /// 2026-11-02 09:00 JST, a Monday.
    const MONDAY_9AM: i64 = 1_793_577_600;

    fn read(principal: &str, at: i64, records: u64, source: &str) -> Read {
        Read {
            principal: principal.into(),
            tenant: "aoba-city".into(),
            records,
            source: Some(source.into()),
            at,
            honeytokens: 0,
        }
    }

    #[test]
    fn the_clock_is_japan_time() {
        assert_eq!(hour_of(MONDAY_9AM), 9);
        assert_eq!(day_of(MONDAY_9AM), day_of(MONDAY_9AM + 14 * 3600), "23:00 is the same day");
        assert_ne!(day_of(MONDAY_9AM), day_of(MONDAY_9AM + 15 * 3600), "midnight JST starts a new day");
    }

    #[test]
    fn a_honeytoken_is_reported_every_time_and_freezes() {
        let mut watch = Watch::default();
        let mut touch = read("staff:tanaka", MONDAY_9AM, 1, "10.0.0.5");
        touch.honeytokens = 1;
        assert_eq!(watch.observe(&touch), vec![Finding::Honeytoken { records: 1 }]);
        touch.at += 60;
        let again = watch.observe(&touch);
        assert!(again[0].freezes() && again.len() == 1);
    }

    #[test]
    fn an_export_as_fast_as_possible_is_a_burst_before_200_records() {
        let mut watch = Watch::new(Thresholds::default());
        let mut taken = 0;
        let mut at = MONDAY_9AM;
        loop {
            taken += 10;
            at += 1;
            let found = watch.observe(&read("staff:stolen", at, 10, "203.0.113.9"));
            if found.iter().any(|f| matches!(f, Finding::Burst { .. })) {
                break;
            }
            assert!(taken < 200, "no burst by {taken} records");
        }
        assert!(taken <= 160, "caught after {taken}");
    }

    #[test]
    fn reads_above_the_principals_own_baseline_are_low_and_slow() {
        let mut watch = Watch::default();
        // Four weeks of a clerk opening 40–60 records a working day.
        for day in 0..28 {
            if day % 7 >= 5 {
                continue;
            }
            for i in 0..(40 + (day * 7) % 21) {
                watch.observe(&read("staff:suzuki", MONDAY_9AM + day * DAY + i * 400, 1, "10.0.0.5"));
            }
        }
        // Then, one record every few minutes all day: no burst, but far
        // above the baseline.
        let start = MONDAY_9AM + 28 * DAY;
        let mut found = None;
        for i in 0..1000 {
            let f = watch.observe(&read("staff:suzuki", start + i * 40, 1, "10.0.0.5"));
            if let Some(f) = f.into_iter().find(|f| matches!(f, Finding::LowAndSlow { .. })) {
                found = Some((i + 1, f));
                break;
            }
        }
        let (records, finding) = found.expect("caught");
        assert!(records <= 200, "caught after {records} records: {finding}");
    }

    #[test]
    fn a_key_used_from_many_networks_is_caught_and_one_network_is_not() {
        let mut watch = Watch::default();
        for i in 0..20 {
            let found = watch.observe(&read("desk:aoba-desk1", MONDAY_9AM + i, 1, "10.1.0.7"));
            assert!(found.is_empty(), "{found:?}");
        }
        let mut caught_at = None;
        for i in 0..20u8 {
            let source = format!("198.51.{i}.20");
            let found = watch.observe(&read("desk:aoba-desk1", MONDAY_9AM + 100 + i64::from(i), 5, &source));
            if found.iter().any(|f| matches!(f, Finding::ManyNetworks { .. })) {
                caught_at = Some(i);
                break;
            }
        }
        assert_eq!(caught_at, Some(3), "the fifth network of the day");
        assert_eq!(network_of("2001:db8:1:2:3::9"), "2001:db8:1:2::/64");
    }

    #[test]
    fn a_thief_staying_under_the_daily_limit_is_caught_by_the_week() {
        let mut watch = Watch::default();
        let mut taken = 0;
        'days: for day in 0..14 {
            // 90 records a day in chunks of 10 over office hours.
            for chunk in 0..9 {
                taken += 10;
                let found =
                    watch.observe(&read("desk:aoba-desk1", MONDAY_9AM + day * DAY + chunk * 1800, 10, "10.0.0.9"));
                if let Some(f) = found.first() {
                    assert!(matches!(f, Finding::SlowWeek { .. }) && f.freezes(), "{f:?}");
                    break 'days;
                }
            }
        }
        assert!(taken <= 510, "caught after {taken} records");
    }

    #[test]
    fn one_key_from_many_addresses_in_a_week_is_caught_and_a_few_are_not() {
        let mut watch = Watch::default();
        // A clerk moving between a few PCs all week: no finding.
        for day in 0..7 {
            for pc in 0..4 {
                let source = format!("10.1.0.{}", 10 + pc);
                assert!(watch.observe(&read("staff:sato", MONDAY_9AM + day * DAY + pc * 600, 2, &source)).is_empty());
            }
        }
        // A stolen key from 20 addresses in one /24, a few a day.
        let mut found = Vec::new();
        for n in 0..20 {
            let source = format!("192.0.2.{}", 100 + n);
            found = watch.observe(&read("desk:stolen", MONDAY_9AM + (n / 3) * DAY + n * 60, 5, &source));
            if !found.is_empty() {
                assert_eq!(n, 12, "the 13th address in a week");
                break;
            }
        }
        assert_eq!(found, vec![Finding::ManyAddresses { addresses: 13 }]);
    }

    #[test]
    fn bulk_reading_at_night_raises_an_alert_that_does_not_freeze() {
        let mut watch = Watch::default();
        let night = MONDAY_9AM + 14 * 3600; // 23:00
        let found = watch.observe(&read("staff:tanaka", night, 40, "10.0.0.5"));
        assert_eq!(found, vec![Finding::Night { records: 40 }]);
        assert!(!found[0].freezes());
        assert!(watch.observe(&read("staff:tanaka", night + 3 * 3600, 40, "10.0.0.5")).is_empty(), "once a night");
    }

    #[test]
    fn a_tenant_can_set_its_own_limits() {
        let mut watch = Watch::default();
        watch.set_tenant("aoba-city", Thresholds { burst_records: 20, ..Thresholds::default() });
        let found = watch.observe(&read("staff:tanaka", MONDAY_9AM, 25, "10.0.0.5"));
        assert!(found.iter().any(|f| matches!(f, Finding::Burst { records: 25, .. })), "{found:?}");
        let mut other = read("staff:sato", MONDAY_9AM, 25, "10.0.0.5");
        other.tenant = "sakura-town".into();
        assert!(watch.observe(&other).is_empty());
    }

    /// A month of ordinary clerk work in five municipalities: a few clerks
    /// each, office hours with lunch, busier Mondays and month-ends, an
    /// occasional export of the day's applications, some overtime, a desk
    /// key syncing every few minutes from the town hall's network. At most
    /// one alert per tenant per week.
    #[test]
    fn a_month_of_normal_work_raises_at_most_one_alert_per_tenant_per_week() {
        let mut watch = Watch::default();
        let mut alerts: HashMap<String, u32> = HashMap::new();
        let tenants = ["aoba-city", "sakura-town", "kawabe-village", "demo-town-01", "demo-town-02"];
        for read in workload::normal_work(&tenants, 35, MONDAY_9AM - 9 * 3600, 0x2545_f491_4f6c_dd1d) {
            let found = watch.observe(&read);
            for f in &found {
                eprintln!("{} {}: {f}", read.at, read.tenant);
            }
            *alerts.entry(read.tenant.clone()).or_default() += found.len() as u32;
        }
        eprintln!("alerts in five weeks of normal work: {alerts:?}");
        for tenant in tenants {
            let n = alerts.get(tenant).copied().unwrap_or(0);
            assert!(n <= 5, "{tenant}: {n} alerts in five weeks");
        }
    }
}
