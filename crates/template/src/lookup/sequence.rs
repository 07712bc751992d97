//! The `sequence` lookup (`with_sequence`) and the Python `%` formatting of one number it uses.

use regex::RegexBuilder;
use serde_json::{Map, Value as Json};

use super::{parse_kv, term_text, Failure};

#[derive(Clone)]
struct Options {
    start: i64,
    end: Option<i64>,
    stride: i64,
    count: Option<i64>,
    format: String,
}

const FIELDS: [&str; 5] = ["start", "end", "stride", "count", "format"];

pub fn run(terms: &[Json], kwargs: &Map<String, Json>) -> Result<Vec<Json>, Failure> {
    let empty = [Json::String(String::new())];
    let terms = if terms.is_empty() && !kwargs.is_empty() {
        &empty[..]
    } else {
        terms
    };
    let mut results = Vec::new();
    for term in terms {
        let mut opts = Options {
            start: 1,
            end: None,
            stride: 1,
            count: None,
            format: "%d".into(),
        };
        for field in FIELDS {
            if let Some(value) = kwargs.get(field) {
                set(&mut opts, field, value)?;
            }
        }
        let term = term_text(term);
        if !parse_shortcut(&term, &mut opts)? {
            let (mut params, raw) = parse_kv(&term);
            if !raw.is_empty() {
                params.push(("_raw_params".into(), raw));
            }
            let mut unknown = Vec::new();
            for (key, value) in params {
                if FIELDS.contains(&key.as_str()) {
                    set(&mut opts, &key, &Json::String(value))?;
                } else {
                    unknown.push(format!("'{key}'"));
                }
            }
            if !unknown.is_empty() {
                return Err(Failure::Message(format!(
                    "unrecognized arguments to with_sequence: [{}]",
                    unknown.join(", ")
                )));
            }
        }
        if let Some(end) = sane_end(&opts)? {
            let adjust = if opts.stride >= 0 { 1 } else { -1 };
            let mut i = opts.start;
            let stop = end + adjust;
            while (opts.stride > 0 && i < stop) || (opts.stride < 0 && i > stop) {
                let text = format_int(&opts.format, i).ok_or_else(|| {
                    Failure::Message(format!(
                        "problem formatting {i} with {}",
                        crate::pyfmt::str_repr(&opts.format)
                    ))
                })?;
                results.push(Json::String(text));
                i += opts.stride;
            }
        }
    }
    Ok(results)
}

fn set(opts: &mut Options, field: &str, value: &Json) -> Result<(), Failure> {
    if field == "format" {
        opts.format = term_text(value);
        return Ok(());
    }
    let number = match value {
        Json::Number(n) => n.as_i64(),
        Json::Bool(b) => Some(i64::from(*b)),
        Json::String(s) => crate::filters::parse_python_int(s, 10),
        _ => None,
    }
    .ok_or_else(|| {
        Failure::Message(format!(
            "Invalid value for '{field}': {} is not an integer",
            crate::pyfmt::str_repr(&term_text(value))
        ))
    })?;
    match field {
        "start" => opts.start = number,
        "end" => opts.end = Some(number),
        "stride" => opts.stride = number,
        _ => opts.count = Some(number),
    }
    Ok(())
}

/// The `[start-]end[/stride][:format]` form; false when `term` is not in it.
fn parse_shortcut(term: &str, opts: &mut Options) -> Result<bool, Failure> {
    const NUM: &str = "(0?x?[0-9a-f]+)";
    let pattern = format!("^({NUM}-)?{NUM}(/{NUM})?(:(.+))?$");
    let re = RegexBuilder::new(&pattern)
        .case_insensitive(true)
        .build()
        .map_err(|e| Failure::Message(e.to_string()))?;
    let Some(caps) = re.captures(term) else {
        return Ok(false);
    };
    let groups = [("start", 2), ("end", 3), ("stride", 5), ("format", 7)];
    for (field, idx) in groups {
        if let Some(m) = caps.get(idx) {
            set(opts, field, &Json::String(m.as_str().to_string()))?;
        }
    }
    Ok(true)
}

/// Ansible's `sanity_check`: the last number, or `None` for an empty sequence.
fn sane_end(opts: &Options) -> Result<Option<i64>, Failure> {
    let fail = |m: &str| Err(Failure::Message(m.to_string()));
    let end = match (opts.count, opts.end) {
        (None, None) => return fail("must specify count or end in with_sequence"),
        (Some(_), Some(_)) => return fail("can't specify both count and end in with_sequence"),
        (Some(0), None) => return Ok(None),
        (Some(count), None) => opts.start + count * opts.stride - 1,
        (None, Some(end)) => end,
    };
    if opts.stride > 0 && end < opts.start {
        return fail("to count backwards make stride negative");
    }
    if opts.stride < 0 && end > opts.start {
        return fail("to count forward don't make stride negative");
    }
    if opts.stride == 0 {
        return Ok(None);
    }
    if opts.format.matches('%').count() != 1 {
        return Err(Failure::Message(format!(
            "bad formatting string: {}",
            opts.format
        )));
    }
    Ok(Some(end))
}

/// Python's `format % number` for a format with one conversion; `None` where Python raises.
pub fn format_int(format: &str, value: i64) -> Option<String> {
    let start = format.find('%')?;
    let (prefix, rest) = format.split_at(start);
    let spec: Vec<char> = rest[1..].chars().collect();
    let mut i = 0;
    let mut flags = String::new();
    while let Some(c) = spec.get(i).filter(|c| "-+ #0".contains(**c)) {
        flags.push(*c);
        i += 1;
    }
    let mut width = String::new();
    while let Some(c) = spec.get(i).filter(|c| c.is_ascii_digit()) {
        width.push(*c);
        i += 1;
    }
    let mut precision: Option<usize> = None;
    if spec.get(i) == Some(&'.') {
        i += 1;
        let mut digits = String::new();
        while let Some(c) = spec.get(i).filter(|c| c.is_ascii_digit()) {
            digits.push(*c);
            i += 1;
        }
        precision = Some(digits.parse().unwrap_or(0));
    }
    // Length modifiers are accepted and ignored by Python.
    while spec.get(i).is_some_and(|c| "hlL".contains(*c)) {
        i += 1;
    }
    let conv = *spec.get(i)?;
    let suffix: String = spec.get(i + 1..)?.iter().collect();
    let alt = flags.contains('#');
    let (negative, magnitude) = (value < 0, value.unsigned_abs());
    let (body, numeric) = match conv {
        'd' | 'i' | 'u' => (pad_digits(magnitude.to_string(), precision), true),
        'o' => {
            let digits = pad_digits(format!("{magnitude:o}"), precision);
            (if alt { format!("0o{digits}") } else { digits }, true)
        }
        'x' => {
            let digits = pad_digits(format!("{magnitude:x}"), precision);
            (if alt { format!("0x{digits}") } else { digits }, true)
        }
        'X' => {
            let digits = pad_digits(format!("{magnitude:X}"), precision);
            (if alt { format!("0X{digits}") } else { digits }, true)
        }
        'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
            (float_body(conv, magnitude as f64, precision, alt), true)
        }
        's' | 'r' | 'a' => {
            let text = value.to_string();
            let text = match precision {
                Some(p) => text.chars().take(p).collect(),
                None => text,
            };
            (text, false)
        }
        'c' => (
            char::from_u32(u32::try_from(value).ok()?)?.to_string(),
            false,
        ),
        _ => return None,
    };
    let sign = if !numeric {
        ""
    } else if negative {
        "-"
    } else if flags.contains('+') {
        "+"
    } else if flags.contains(' ') {
        " "
    } else {
        ""
    };
    let width: usize = width.parse().unwrap_or(0);
    let len = sign.chars().count() + body.chars().count();
    let padded = if len >= width {
        format!("{sign}{body}")
    } else if flags.contains('-') {
        format!("{sign}{body}{}", " ".repeat(width - len))
    } else if flags.contains('0') && numeric {
        // Zeros go after the sign and any `0x` prefix.
        let (radix_prefix, digits) = match body.get(..2) {
            Some(p @ ("0x" | "0X" | "0o")) if alt => (p, &body[2..]),
            _ => ("", body.as_str()),
        };
        format!("{sign}{radix_prefix}{}{digits}", "0".repeat(width - len))
    } else {
        format!("{}{sign}{body}", " ".repeat(width - len))
    };
    Some(format!("{prefix}{padded}{suffix}"))
}

fn pad_digits(digits: String, precision: Option<usize>) -> String {
    match precision {
        Some(p) if p > digits.len() => format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => digits,
    }
}

/// The digits of a non-negative float in `%f`/`%e`/`%g` style.
fn float_body(conv: char, x: f64, precision: Option<usize>, alt: bool) -> String {
    let p = precision.unwrap_or(6);
    match conv {
        'f' | 'F' => format!("{x:.p$}"),
        'e' | 'E' => {
            let text = exp_form(x, p);
            if conv == 'E' {
                text.to_uppercase()
            } else {
                text
            }
        }
        _ => {
            let p = p.max(1);
            let exp = if x == 0.0 {
                0
            } else {
                // The exponent after rounding to `p` significant digits decides the style.
                let e = exp_form(x, p - 1);
                e.rsplit('e')
                    .next()
                    .and_then(|t| t.parse::<i32>().ok())
                    .unwrap_or(0)
            };
            let mut text = if exp < -4 || exp >= p as i32 {
                exp_form(x, p - 1)
            } else {
                let decimals = usize::try_from(p as i32 - 1 - exp).unwrap_or(0);
                format!("{x:.decimals$}")
            };
            if !alt {
                text = strip_fraction_zeros(&text);
            }
            if conv == 'G' {
                text.to_uppercase()
            } else {
                text
            }
        }
    }
}

/// `1.500000e+03`: Rust's `{:e}` with Python's signed, two-digit exponent.
fn exp_form(x: f64, p: usize) -> String {
    let text = format!("{x:.p$e}");
    match text.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => text,
    }
}

fn strip_fraction_zeros(text: &str) -> String {
    let (mantissa, exp) = match text.find('e') {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    };
    let mantissa = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    format!("{mantissa}{exp}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_follows_python() {
        assert_eq!(format_int("host%02d", 3).as_deref(), Some("host03"));
        assert_eq!(format_int("%04x", 3840).as_deref(), Some("0f00"));
        assert_eq!(format_int("0x%02x", 10).as_deref(), Some("0x0a"));
        assert_eq!(format_int("%#06x", 10).as_deref(), Some("0x000a"));
        assert_eq!(format_int("%-4d|", 7).as_deref(), Some("7   |"));
        assert_eq!(format_int("%+d", 7).as_deref(), Some("+7"));
        assert_eq!(format_int("%5.2f", 1).as_deref(), Some(" 1.00"));
        assert_eq!(format_int("%e", 1500).as_deref(), Some("1.500000e+03"));
        assert_eq!(format_int("%g", 1500).as_deref(), Some("1500"));
        assert_eq!(format_int("%g", 12_345_678).as_deref(), Some("1.23457e+07"));
        assert_eq!(format_int("%s!", -3).as_deref(), Some("-3!"));
        assert_eq!(format_int("%05d", -3).as_deref(), Some("-0003"));
        assert_eq!(format_int("%.3d", 5).as_deref(), Some("005"));
        assert_eq!(format_int("%c", 65).as_deref(), Some("A"));
        assert_eq!(format_int("%q", 1), None);
        assert_eq!(format_int("%", 1), None);
    }
}
