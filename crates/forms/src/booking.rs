//! Time slots a resident books (税務証明交付予約, 窓口予約): which slots a
//! schedule offers, what a slot is called, and when the office is closed.
//!
//! Pure like the rest of the crate: the caller passes today. Whether a slot
//! still has room is the store's business (it counts under a lock); this
//! module only says which slots exist.

use time::{Date, Duration, Month, Weekday};

use crate::definition::{DateBound, FieldKind};
use crate::wareki::{display_date, parse_iso};
use crate::Lang;

/// The most days one schedule may span, so a page never lists a year of
/// slots.
pub const MAX_DAYS: i64 = 120;
/// The most slots one schedule may offer in its window.
pub const MAX_SLOTS: usize = 2000;

/// One bookable time: a date and a start time; the length comes from the
/// schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
}

impl Slot {
    /// `2026-12-01T09:30`: the value posted, sealed and counted.
    pub fn key(&self) -> String {
        format!("{}T{:02}:{:02}", self.date, self.hour, self.minute)
    }

    pub fn parse_key(s: &str) -> Option<Slot> {
        let (date, time) = s.split_once('T')?;
        let (hour, minute) = parse_time(time)?;
        Some(Slot { date: parse_iso(date)?, hour, minute })
    }

    /// `9:30〜10:00` for a slot of `minutes`.
    pub fn times(&self, minutes: u32) -> String {
        let start = u32::from(self.hour) * 60 + u32::from(self.minute);
        let end = start + minutes;
        format!("{}:{:02}〜{}:{:02}", start / 60, start % 60, end / 60, end % 60)
    }

    /// `12月1日（火） 9:30〜10:00` / `Tue 1 December, 9:30–10:00`: short, for
    /// a list of slots within a few weeks.
    pub fn short_label(&self, minutes: u32, lang: Lang) -> String {
        let d = self.date;
        match lang {
            Lang::Ja => {
                format!("{}月{}日（{}） {}", u8::from(d.month()), d.day(), weekday_ja(d.weekday()), self.times(minutes))
            }
            Lang::En => format!(
                "{} {} {}, {}",
                &d.weekday().to_string()[..3],
                d.day(),
                d.month(),
                self.times(minutes).replace('〜', "–")
            ),
        }
    }

    /// With the year (in 和暦 too): for the 確認画面 and the desk.
    pub fn full_label(&self, minutes: u32, lang: Lang) -> String {
        let times = self.times(minutes);
        match lang {
            Lang::Ja => format!("{}（{}） {}", display_date(self.date, lang), weekday_ja(self.date.weekday()), times),
            Lang::En => {
                format!("{}, {} {}", self.date.weekday(), display_date(self.date, lang), times.replace('〜', "–"))
            }
        }
    }
}

fn weekday_ja(w: Weekday) -> &'static str {
    match w {
        Weekday::Monday => "月",
        Weekday::Tuesday => "火",
        Weekday::Wednesday => "水",
        Weekday::Thursday => "木",
        Weekday::Friday => "金",
        Weekday::Saturday => "土",
        Weekday::Sunday => "日",
    }
}

/// `mon` … `sun`, as a schedule names weekdays.
pub(crate) fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

/// `09:30` or `9:30`, within one day.
pub(crate) fn parse_time(s: &str) -> Option<(u8, u8)> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 || !(h.chars().chain(m.chars())).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

/// A booking field's schedule, resolved from its definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub weekdays: Vec<Weekday>,
    pub times: Vec<(u8, u8)>,
    pub minutes: u32,
    pub capacity: u32,
    pub closed: Vec<Date>,
    from: DateBound,
    until: DateBound,
    pub holidays_closed: bool,
}

impl Schedule {
    /// The schedule of a `booking` field; `None` for any other kind (or a
    /// definition built in code with values a checked file cannot have).
    pub fn of(kind: &FieldKind) -> Option<Schedule> {
        let FieldKind::Booking { weekdays, times, minutes, capacity, closed, from, until, holidays_closed } = kind
        else {
            return None;
        };
        Some(Schedule {
            weekdays: weekdays.iter().map(|w| parse_weekday(w)).collect::<Option<_>>()?,
            times: times.iter().map(|t| parse_time(t)).collect::<Option<_>>()?,
            minutes: *minutes,
            capacity: *capacity,
            closed: closed.iter().map(|d| parse_iso(d)).collect::<Option<_>>()?,
            from: DateBound::parse(from)?,
            until: DateBound::parse(until)?,
            holidays_closed: *holidays_closed,
        })
    }

    /// Whether the office takes bookings on `date` at all.
    pub fn is_open(&self, date: Date) -> bool {
        self.weekdays.contains(&date.weekday())
            && !self.closed.contains(&date)
            && !(self.holidays_closed && is_office_holiday(date))
    }

    /// The first and last day residents may book, seen from `today`.
    pub fn window(&self, today: Date) -> Option<(Date, Date)> {
        let first = self.from.resolve(today)?;
        let last = self.until.resolve(today)?.min(first.checked_add(Duration::days(MAX_DAYS - 1))?);
        (first <= last).then_some((first, last))
    }

    /// Every slot offered from `today`'s point of view, in time order.
    pub fn slots(&self, today: Date) -> Vec<Slot> {
        let Some((first, last)) = self.window(today) else {
            return Vec::new();
        };
        let mut times = self.times.clone();
        times.sort_unstable();
        times.dedup();
        let mut out = Vec::new();
        let mut date = first;
        while date <= last && out.len() < MAX_SLOTS {
            if self.is_open(date) {
                out.extend(times.iter().map(|&(hour, minute)| Slot { date, hour, minute }));
            }
            match date.next_day() {
                Some(next) => date = next,
                None => break,
            }
        }
        out.truncate(MAX_SLOTS);
        out
    }

    /// Whether `slot` is one this schedule offers today.
    pub fn offers(&self, slot: &Slot, today: Date) -> bool {
        let Some((first, last)) = self.window(today) else {
            return false;
        };
        (first..=last).contains(&slot.date) && self.is_open(slot.date) && self.times.contains(&(slot.hour, slot.minute))
    }
}

/// A day municipal offices are closed besides weekends: 国民の祝日 and
/// 振替休日 (祝日法, rules as amended for 2020 on) and 年末年始
/// (12月29日〜1月3日, 行政機関の休日に関する法律).
pub fn is_office_holiday(date: Date) -> bool {
    let (month, day) = (date.month(), date.day());
    matches!((month, day), (Month::December, 29..=31) | (Month::January, 1..=3)) || is_national_holiday(date)
}

/// 国民の祝日, 振替休日 and 国民の休日 for `date`'s year. The equinoxes use
/// the usual approximation, exact for 1980–2099.
pub fn is_national_holiday(date: Date) -> bool {
    if is_named_holiday(date) {
        return true;
    }
    // 振替休日: the first non-holiday after a holiday on Sunday.
    if date.weekday() != Weekday::Sunday {
        let mut back = date.previous_day();
        while let Some(prev) = back.filter(|d| is_named_holiday(*d)) {
            if prev.weekday() == Weekday::Sunday {
                return true;
            }
            back = prev.previous_day();
        }
    }
    // 国民の休日: a weekday between two holidays.
    matches!((date.previous_day(), date.next_day()), (Some(p), Some(n)) if is_named_holiday(p) && is_named_holiday(n))
        && date.weekday() != Weekday::Sunday
}

fn nth_monday(year: i32, month: Month, n: u8) -> u8 {
    let first = Date::from_calendar_date(year, month, 1).map(|d| d.weekday().number_days_from_monday()).unwrap_or(0);
    1 + (7 - first) % 7 + 7 * (n - 1)
}

fn equinox(year: i32, base: f64) -> u8 {
    let y = f64::from(year - 1980);
    (base + 0.242194 * y - (y / 4.0).floor()).floor() as u8
}

fn is_named_holiday(date: Date) -> bool {
    let (year, month, day) = (date.year(), date.month(), date.day());
    match month {
        Month::January => day == 1 || day == nth_monday(year, month, 2),
        Month::February => day == 11 || day == 23,
        Month::March => day == equinox(year, 20.8431),
        Month::April => day == 29,
        Month::May => matches!(day, 3..=5),
        Month::July => day == nth_monday(year, month, 3),
        Month::August => day == 11,
        Month::September => day == nth_monday(year, month, 3) || day == equinox(year, 23.2488),
        Month::October => day == nth_monday(year, month, 2),
        Month::November => day == 3 || day == 23,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn the_national_holidays_of_2026_and_2027_are_known() {
        // 内閣府「国民の祝日」の一覧 for 2026 and 2027.
        let holidays_2026 = [
            date!(2026 - 01 - 01),
            date!(2026 - 01 - 12),
            date!(2026 - 02 - 11),
            date!(2026 - 02 - 23),
            date!(2026 - 03 - 20),
            date!(2026 - 04 - 29),
            date!(2026 - 05 - 03),
            date!(2026 - 05 - 04),
            date!(2026 - 05 - 05),
            date!(2026 - 05 - 06), // 振替休日 for 5/3 (Sunday)
            date!(2026 - 07 - 20),
            date!(2026 - 08 - 11),
            date!(2026 - 09 - 21),
            date!(2026 - 09 - 22), // 国民の休日, between 敬老の日 and 秋分の日
            date!(2026 - 09 - 23),
            date!(2026 - 10 - 12),
            date!(2026 - 11 - 03),
            date!(2026 - 11 - 23),
        ];
        let mut day = date!(2026 - 01 - 01);
        let mut found = Vec::new();
        while day.year() == 2026 {
            if is_national_holiday(day) {
                found.push(day);
            }
            day = day.next_day().unwrap();
        }
        assert_eq!(found, holidays_2026);
        assert!(is_national_holiday(date!(2027 - 03 - 21)));
        assert!(is_national_holiday(date!(2027 - 03 - 22)), "振替休日 for 春分の日 on a Sunday");
        assert!(is_national_holiday(date!(2027 - 09 - 23)));
        assert!(!is_national_holiday(date!(2027 - 09 - 22)));
    }

    #[test]
    fn offices_close_over_the_new_year() {
        assert!(is_office_holiday(date!(2026 - 12 - 29)));
        assert!(is_office_holiday(date!(2027 - 01 - 03)));
        assert!(!is_office_holiday(date!(2027 - 01 - 04)));
        assert!(!is_office_holiday(date!(2026 - 12 - 28)));
    }

    fn schedule() -> Schedule {
        Schedule::of(&FieldKind::Booking {
            weekdays: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
            times: vec!["13:00".into(), "09:00".into(), "09:30".into()],
            minutes: 30,
            capacity: 2,
            closed: vec!["2026-12-02".into()],
            from: "today+1".into(),
            until: "today+14".into(),
            holidays_closed: true,
        })
        .unwrap()
    }

    #[test]
    fn slots_skip_weekends_holidays_and_closed_days_in_time_order() {
        let slots = schedule().slots(date!(2026 - 11 - 25));
        let days: Vec<Date> = slots.iter().map(|s| s.date).step_by(3).collect();
        // 11/26 Thu, 11/27 Fri, (weekend), 11/30, 12/1, (12/2 closed), 12/3 …
        assert_eq!(
            days,
            [
                date!(2026 - 11 - 26),
                date!(2026 - 11 - 27),
                date!(2026 - 11 - 30),
                date!(2026 - 12 - 01),
                date!(2026 - 12 - 03),
                date!(2026 - 12 - 04),
                date!(2026 - 12 - 07),
                date!(2026 - 12 - 08),
                date!(2026 - 12 - 09),
            ]
        );
        assert_eq!(slots[0].key(), "2026-11-26T09:00");
        assert_eq!(slots[2].key(), "2026-11-26T13:00");
    }

    #[test]
    fn a_slot_is_offered_only_inside_the_window_on_an_open_day_at_a_listed_time() {
        let s = schedule();
        let today = date!(2026 - 11 - 25);
        let offered = |key: &str| s.offers(&Slot::parse_key(key).unwrap(), today);
        assert!(offered("2026-11-26T09:30"));
        assert!(!offered("2026-11-25T09:30"), "today is before the window");
        assert!(!offered("2026-11-28T09:30"), "Saturday");
        assert!(!offered("2026-12-02T09:30"), "closed by the desk");
        assert!(!offered("2026-11-26T10:00"), "not a listed time");
        assert!(!offered("2026-12-10T09:30"), "after the window");
        assert!(Slot::parse_key("2026-11-26T25:00").is_none());
        assert!(Slot::parse_key("2026-11-26 09:00").is_none());
    }

    #[test]
    fn slots_read_naturally_in_both_languages() {
        let slot = Slot::parse_key("2026-12-01T09:30").unwrap();
        assert_eq!(slot.short_label(30, Lang::Ja), "12月1日（火） 9:30〜10:00");
        assert_eq!(slot.short_label(45, Lang::En), "Tue 1 December, 9:30–10:15");
        assert_eq!(slot.full_label(30, Lang::Ja), "2026年12月1日（令和8年）（火） 9:30〜10:00");
    }
}
