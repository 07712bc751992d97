//! Python `datetime` values and C `strftime`, for `now()`, `to_datetime` and `strftime`.
//!
//! A datetime is a template object: `str()` gives Python's `2016-08-14 20:00:12`, data (module
//! arguments, `to_json`, native results) gets `isoformat()`'s `2016-08-14T20:00:12`, as in
//! ansible-core 2.19. Attributes (`year`, …), `strftime()`/`isoformat()`/`timestamp()` and
//! comparisons work; arithmetic (`date1 - date2`) does not, minijinja having no operator hook.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use chrono::format::{parse, Parsed, StrftimeItems};
use chrono::{
    DateTime, Datelike, FixedOffset, Local, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike,
    Utc,
};
use minijinja::value::{DynObject, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};

use crate::filters::{err, require_defined, text_of, Args, RestArgs};

/// A naive `datetime.datetime` (no time zone), as `now()` and `to_datetime` make them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PyDateTime(pub NaiveDateTime);

impl PyDateTime {
    pub fn value(dt: NaiveDateTime) -> Value {
        Value::from_object(PyDateTime(dt))
    }

    fn micros(&self) -> u32 {
        self.0.nanosecond() / 1000
    }

    /// `datetime.isoformat(sep)`.
    pub fn isoformat(&self, sep: &str) -> String {
        let d = &self.0;
        let mut out = format!(
            "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        );
        if self.micros() != 0 {
            out.push_str(&format!(".{:06}", self.micros()));
        }
        out
    }

    /// Python `str(datetime)`.
    pub fn py_str(&self) -> String {
        self.isoformat(" ")
    }

    /// Python `repr(datetime)`.
    pub fn py_repr(&self) -> String {
        let d = &self.0;
        let mut out = format!(
            "datetime.datetime({}, {}, {}, {}, {}",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minute()
        );
        if d.second() != 0 || self.micros() != 0 {
            out.push_str(&format!(", {}", d.second()));
        }
        if self.micros() != 0 {
            out.push_str(&format!(", {}", self.micros()));
        }
        out.push(')');
        out
    }
}

impl Object for PyDateTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let d = &self.0;
        Some(Value::from(match key.as_str()? {
            "year" => i64::from(d.year()),
            "month" => i64::from(d.month()),
            "day" => i64::from(d.day()),
            "hour" => i64::from(d.hour()),
            "minute" => i64::from(d.minute()),
            "second" => i64::from(d.second()),
            "microsecond" => i64::from(self.micros()),
            "tzinfo" => return Some(Value::from(())),
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let d = &self.0;
        match method {
            "strftime" => {
                let mut args = Args::new("strftime", args.to_vec(), &["format"])?;
                let format = args
                    .string(0)?
                    .ok_or_else(|| err("strftime() missing required argument 'format' (pos 1)"))?;
                args.finish()?;
                strftime(d, &format, None).map(Value::from).map_err(err)
            }
            "isoformat" => {
                let mut args = Args::new("isoformat", args.to_vec(), &["sep"])?;
                let sep = args.string(0)?.unwrap_or_else(|| "T".into());
                args.finish()?;
                Ok(Value::from(self.isoformat(&sep)))
            }
            "timestamp" => {
                // A naive datetime is local time to Python.
                let local = Local
                    .from_local_datetime(d)
                    .earliest()
                    .ok_or_else(|| err("timestamp(): the local time does not exist"))?;
                let micros = local.timestamp_micros();
                Ok(Value::from(micros as f64 / 1e6))
            }
            "weekday" => Ok(Value::from(d.weekday().num_days_from_monday())),
            "isoweekday" => Ok(Value::from(d.weekday().number_from_monday())),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        other
            .downcast_ref::<PyDateTime>()
            .map(|other| self.0.cmp(&other.0))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.isoformat("T"))
    }
}

/// C `strftime` over a broken-down time, with Python's additions: `%f` is microseconds, and
/// without a zone (a naive datetime) `%z` and `%Z` are empty. Unknown directives are kept
/// literally, as glibc does.
pub fn strftime(
    dt: &NaiveDateTime,
    format: &str,
    zone: Option<(FixedOffset, &str)>,
) -> Result<String, String> {
    let mut chrono_fmt = String::with_capacity(format.len());
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            push_literal(&mut chrono_fmt, c);
            continue;
        }
        let flag = match chars.peek() {
            Some(f @ ('-' | '_' | '0')) => {
                let f = *f;
                chars.next();
                Some(f)
            }
            _ => None,
        };
        let Some(spec) = chars.next() else {
            chrono_fmt.push_str("%%");
            if let Some(f) = flag {
                push_literal(&mut chrono_fmt, f);
            }
            break;
        };
        match spec {
            'f' => {
                let _ = write!(chrono_fmt, "{:06}", dt.nanosecond() / 1000);
            }
            'z' => {
                if let Some((offset, _)) = zone {
                    let secs = offset.local_minus_utc();
                    let sign = if secs < 0 { '-' } else { '+' };
                    let secs = secs.abs();
                    let _ = write!(chrono_fmt, "{sign}{:02}{:02}", secs / 3600, secs / 60 % 60);
                }
            }
            'Z' => {
                if let Some((_, name)) = zone {
                    name.chars().for_each(|c| push_literal(&mut chrono_fmt, c));
                }
            }
            'a' | 'A' | 'b' | 'B' | 'c' | 'C' | 'd' | 'D' | 'e' | 'F' | 'g' | 'G' | 'h' | 'H'
            | 'I' | 'j' | 'k' | 'l' | 'm' | 'M' | 'n' | 'p' | 'P' | 'r' | 'R' | 's' | 'S' | 't'
            | 'T' | 'u' | 'U' | 'V' | 'w' | 'W' | 'x' | 'X' | 'y' | 'Y' | '%' => {
                chrono_fmt.push('%');
                if let Some(f) = flag {
                    chrono_fmt.push(f);
                }
                chrono_fmt.push(spec);
            }
            other => {
                chrono_fmt.push_str("%%");
                if let Some(f) = flag {
                    push_literal(&mut chrono_fmt, f);
                }
                push_literal(&mut chrono_fmt, other);
            }
        }
    }
    let items = StrftimeItems::new(&chrono_fmt);
    let mut out = String::new();
    let written = match zone {
        // `%s` counts from the epoch in the datetime's own zone.
        Some((offset, _)) => match offset.from_local_datetime(dt).single() {
            Some(aware) => write!(out, "{}", aware.format_with_items(items)),
            None => write!(out, "{}", dt.format_with_items(items)),
        },
        None => write!(out, "{}", dt.format_with_items(items)),
    };
    written.map_err(|_| format!("invalid format string '{format}'"))?;
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

/// `datetime.strptime(text, format)`; fields the format leaves out take Python's defaults
/// (1900-01-01 00:00:00). A `%z` offset is accepted but not kept.
pub fn strptime(text: &str, format: &str) -> Result<NaiveDateTime, String> {
    let mismatch = || format!("time data '{text}' does not match format '{format}'");
    // Python's `%f` reads 1–6 digits as a fraction of a second; chrono's `%.f` does that with
    // the dot in front.
    let chrono_fmt = format.replace(".%f", "%.f").replace("%f", "%6f");
    let mut parsed = Parsed::new();
    parse(&mut parsed, text, StrftimeItems::new(&chrono_fmt)).map_err(|e| {
        if e.kind() == chrono::format::ParseErrorKind::TooLong {
            "unconverted data remains".to_string()
        } else {
            mismatch()
        }
    })?;
    let year = match (parsed.year(), parsed.year_div_100(), parsed.year_mod_100()) {
        (Some(y), _, _) => y,
        (None, Some(c), Some(y)) => c * 100 + y,
        (None, None, Some(y)) if y < 69 => 2000 + y,
        (None, None, Some(y)) => 1900 + y,
        _ => 1900,
    };
    let date = match (parsed.month(), parsed.day(), parsed.ordinal()) {
        (None, None, Some(ordinal)) => NaiveDate::from_yo_opt(year, ordinal),
        (month, day, _) => NaiveDate::from_ymd_opt(year, month.unwrap_or(1), day.unwrap_or(1)),
    }
    .ok_or_else(mismatch)?;
    let hour = parsed.hour_div_12().unwrap_or(0) * 12 + parsed.hour_mod_12().unwrap_or(0);
    let micros = parsed.nanosecond().unwrap_or(0) / 1000;
    date.and_hms_micro_opt(
        hour,
        parsed.minute().unwrap_or(0),
        parsed.second().unwrap_or(0),
        micros,
    )
    .ok_or_else(mismatch)
}

/// The `to_datetime(string, format='%Y-%m-%d %H:%M:%S')` filter.
pub fn to_datetime_filter(v: &Value, rest: RestArgs) -> Result<Value, Error> {
    let text = text_of(v)?;
    let mut args = Args::new("to_datetime", rest.into_values(), &["format"])?;
    let format = args
        .string(0)?
        .unwrap_or_else(|| "%Y-%m-%d %H:%M:%S".into());
    args.finish()?;
    strptime(&text, &format).map(PyDateTime::value).map_err(err)
}

/// The `strftime(string_format, second=None, utc=False)` filter: `time.strftime` of the given
/// epoch second (default now) in local time or UTC.
pub fn strftime_filter(v: &Value, rest: RestArgs) -> Result<Value, Error> {
    let format = text_of(v)?;
    let mut args = Args::new("strftime", rest.into_values(), &["second", "utc"])?;
    let second = match args.get(0) {
        None => None,
        Some(s) if s.is_none() => None,
        Some(s) => {
            require_defined(&s)?;
            let parsed = match s.as_str() {
                Some(text) => text.trim().parse::<f64>().ok(),
                None => f64::try_from(s.clone()).ok(),
            };
            match parsed {
                Some(f) if f.is_finite() => Some(f.floor() as i64),
                _ => {
                    return Err(err(format!(
                        "Invalid value for epoch value ({})",
                        text_of(&s)?
                    )))
                }
            }
        }
    };
    let utc = args.flag(1)?;
    args.finish()?;
    let instant = match second {
        Some(s) => DateTime::<Utc>::from_timestamp(s, 0)
            .ok_or_else(|| err(format!("Invalid value for epoch value ({s})")))?,
        None => Utc::now(),
    };
    format_instant(instant, &format, utc).map(Value::from)
}

/// Formats an instant in UTC (`time.gmtime`) or local time (`time.localtime`).
fn format_instant(instant: DateTime<Utc>, format: &str, utc: bool) -> Result<String, Error> {
    let result = if utc {
        strftime(&instant.naive_utc(), format, Some((Utc.fix(), "GMT")))
    } else {
        let local = instant.with_timezone(&Local);
        let offset = local.offset().fix();
        let name = zone_name(offset);
        strftime(&local.naive_local(), format, Some((offset, &name)))
    };
    result.map_err(err)
}

/// chrono does not know zone abbreviations; UTC is by far the most common controller zone, and
/// an offset is unambiguous for the others.
fn zone_name(offset: FixedOffset) -> String {
    let secs = offset.local_minus_utc();
    if secs == 0 {
        return "UTC".into();
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let secs = secs.abs();
    format!("{sign}{:02}{:02}", secs / 3600, secs / 60 % 60)
}

/// The `now(utc=False, fmt=None)` global: a datetime, or its `strftime` text.
pub fn now_function(args: RestArgs) -> Result<Value, Error> {
    let mut args = Args::new("now", args.into_values(), &["utc", "fmt"])?;
    let utc = args.flag(0)?;
    let fmt = args.string(1)?;
    args.finish()?;
    let instant = Utc::now();
    let naive = if utc {
        instant.naive_utc()
    } else {
        instant.with_timezone(&Local).naive_local()
    };
    match fmt {
        Some(fmt) if !fmt.is_empty() => strftime(&naive, &fmt, None).map(Value::from).map_err(err),
        _ => Ok(PyDateTime::value(naive)),
    }
}

/// A datetime value's Python forms, when `value` is one.
pub fn as_datetime(value: &Value) -> Option<&PyDateTime> {
    value.downcast_object_ref::<PyDateTime>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(text: &str) -> NaiveDateTime {
        strptime(text, "%Y-%m-%d %H:%M:%S").unwrap_or_default()
    }

    #[test]
    fn strptime_follows_python_defaults() {
        assert_eq!(
            strptime("2015-12-25", "%Y-%m-%d").map(|d| PyDateTime(d).py_str()),
            Ok("2015-12-25 00:00:00".into())
        );
        assert_eq!(
            strptime("2016-8-4 1:2:3.5", "%Y-%m-%d %H:%M:%S.%f").map(|d| PyDateTime(d).py_repr()),
            Ok("datetime.datetime(2016, 8, 4, 1, 2, 3, 500000)".into())
        );
        assert_eq!(
            strptime("14:05", "%H:%M").map(|d| PyDateTime(d).py_str()),
            Ok("1900-01-01 14:05:00".into())
        );
        assert_eq!(
            strptime("2016", "%Y-%m-%d"),
            Err("time data '2016' does not match format '%Y-%m-%d'".into())
        );
        assert!(strptime("2016-01-01 00:00:00x", "%Y-%m-%d %H:%M:%S").is_err());
    }

    #[test]
    fn strftime_follows_c_and_python() {
        let d = dt("2016-08-14 20:00:12");
        assert_eq!(
            strftime(&d, "%A %d %b %Y %j %% %H:%M:%S.%f", None),
            Ok("Sunday 14 Aug 2016 227 % 20:00:12.000000".into())
        );
        // Naive datetimes print no zone; unknown directives stay as written.
        assert_eq!(strftime(&d, "[%z|%Z] %Q", None), Ok("[|] %Q".into()));
        assert_eq!(
            strftime(&d, "%z %Z %s", Some((Utc.fix(), "GMT"))),
            Ok("+0000 GMT 1471204812".into())
        );
    }

    #[test]
    fn python_text_forms() {
        let d = PyDateTime(dt("2016-08-14 20:00:12"));
        assert_eq!(d.py_str(), "2016-08-14 20:00:12");
        assert_eq!(d.isoformat("T"), "2016-08-14T20:00:12");
        assert_eq!(d.py_repr(), "datetime.datetime(2016, 8, 14, 20, 0, 12)");
    }
}
