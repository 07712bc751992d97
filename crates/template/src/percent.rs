//! Python's printf-style string formatting, `'%s-%05d' % (name, n)`, which Jinja2 evaluates
//! for `str % values` in templates.
//!
//! minijinja hands every `string % value` to [`format_value`] (through tend's patch of
//! minijinja, `vendor/minijinja/TEND-PATCHES.md`); `%` on numbers stays minijinja's modulo,
//! which already follows Python's sign rules (`-7 % 3 == 2`).
//!
//! The right operand is read as Python reads it: a tuple (`(a, b)`, also `(a,)`; minijinja
//! keeps tuples apart from lists) supplies the positional arguments; anything else is one
//! argument, so `'%s' % [1, 2]` is `[1, 2]` as in Jinja2. A mapping feeds `%(name)s`; a mapping
//! or a list (Python's `PyMapping_Check`) also excuses unused arguments (`'x' % [1]` is `x`).
//! Conversions follow CPython 3.11's `PyUnicode_Format`: flags `-+ #0`, width and precision
//! (also `*`), the ignored length modifiers `hlL`, and `s r a c d i u o x X e E f F g G %`;
//! `%s` and `%r` use [`crate::pyfmt`]'s `str()` and `repr()`, with tuples shown as tuples.
//! Errors carry Python's messages ("not enough arguments for format string", "not all
//! arguments converted during string formatting", ...).

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

use crate::pyfmt;

/// `format % args` for the engine: the formatted string as a value.
pub fn format_value(format: &Value, args: &Value) -> Result<Value, Error> {
    percent_format(format.as_str().unwrap_or_default(), args).map(Value::from)
}

/// Python's `format % args`.
pub fn percent_format(format: &str, args: &Value) -> Result<String, Error> {
    if args.is_undefined() {
        return Err(pyfmt::undefined_error(args));
    }
    let mut st = ArgState::new(args);
    let chars: Vec<char> = format.chars().collect();
    let mut out = String::with_capacity(format.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '%' {
            out.push(c);
            continue;
        }
        if i >= chars.len() {
            return Err(value_error("incomplete format"));
        }
        if chars[i] == '%' {
            out.push('%');
            i += 1;
            continue;
        }
        let mut spec = Spec::default();
        if chars[i] == '(' {
            let mut depth = 1;
            let start = i + 1;
            let mut j = start;
            while j < chars.len() {
                match chars[j] {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            if j >= chars.len() {
                return Err(value_error("incomplete format key"));
            }
            let key: String = chars[start..j].iter().collect();
            st.select_key(&key)?;
            i = j + 1;
        }
        while i < chars.len() {
            match chars[i] {
                '-' => spec.left = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '#' => spec.alt = true,
                '0' => spec.zero = true,
                _ => break,
            }
            i += 1;
        }
        if i < chars.len() && chars[i] == '*' {
            let w = star_arg(&mut st)?;
            if w < 0 {
                spec.left = true;
            }
            spec.width = usize::try_from(w.unsigned_abs()).unwrap_or(usize::MAX);
            i += 1;
        } else {
            let (w, next) = digits(&chars, i)?;
            spec.width = w.unwrap_or(0);
            i = next;
        }
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            if i < chars.len() && chars[i] == '*' {
                let p = star_arg(&mut st)?;
                spec.prec = Some(usize::try_from(p.max(0)).unwrap_or(usize::MAX));
                i += 1;
            } else {
                let (p, next) = digits(&chars, i)?;
                spec.prec = Some(p.unwrap_or(0));
                i = next;
            }
        }
        if i < chars.len() && matches!(chars[i], 'h' | 'l' | 'L') {
            i += 1;
        }
        if i >= chars.len() {
            return Err(value_error("incomplete format"));
        }
        let conv = chars[i];
        let conv_index = i;
        i += 1;
        let arg = st.next_arg()?;
        convert(&mut out, &spec, conv, conv_index, &arg)?;
    }
    st.finish()?;
    Ok(out)
}

/// The conversion flags, width and precision of one `%` specifier.
#[derive(Default)]
struct Spec {
    left: bool,
    plus: bool,
    space: bool,
    alt: bool,
    zero: bool,
    width: usize,
    prec: Option<usize>,
}

/// CPython's argument cursor: a tuple is walked item by item (`arglen` its length); any other
/// value is the single argument (`arglen == -1`, `argidx == -2`: one `next_arg` allowed).
struct ArgState<'a> {
    tuple: Vec<Value>,
    single: Value,
    arglen: isize,
    argidx: isize,
    /// The mapping for `%(key)s`; its presence also excuses unconverted arguments.
    dict: Option<&'a Value>,
}

impl<'a> ArgState<'a> {
    fn new(args: &'a Value) -> Self {
        let is_tuple = args.is_tuple();
        let dict = match args.kind() {
            ValueKind::Map | ValueKind::Bytes => Some(args),
            ValueKind::Seq | ValueKind::Iterable if !is_tuple => Some(args),
            _ => None,
        };
        if is_tuple {
            let tuple: Vec<Value> = args.try_iter().map(|it| it.collect()).unwrap_or_default();
            let arglen = isize::try_from(tuple.len()).unwrap_or(isize::MAX);
            ArgState {
                tuple,
                single: Value::UNDEFINED,
                arglen,
                argidx: 0,
                dict,
            }
        } else {
            ArgState {
                tuple: Vec::new(),
                single: args.clone(),
                arglen: -1,
                argidx: -2,
                dict,
            }
        }
    }

    fn next_arg(&mut self) -> Result<Value, Error> {
        if self.argidx < self.arglen {
            let idx = self.argidx;
            self.argidx += 1;
            if self.arglen < 0 {
                return Ok(self.single.clone());
            }
            let idx = usize::try_from(idx).unwrap_or(usize::MAX);
            return Ok(self.tuple.get(idx).cloned().unwrap_or(Value::UNDEFINED));
        }
        Err(type_error("not enough arguments for format string"))
    }

    /// `%(key)…`: the next conversion takes `dict[key]`.
    fn select_key(&mut self, key: &str) -> Result<(), Error> {
        let Some(dict) = self.dict else {
            return Err(type_error("format requires a mapping"));
        };
        if dict.kind() != ValueKind::Map {
            return Err(type_error(format!(
                "{} indices must be integers or slices, not str",
                pyfmt::type_name(dict)
            )));
        }
        let value = dict.get_item(&Value::from(key))?;
        if value.is_undefined() {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("KeyError: {}", pyfmt::str_repr(key)),
            ));
        }
        self.single = value;
        self.arglen = -1;
        self.argidx = -2;
        Ok(())
    }

    fn finish(&self) -> Result<(), Error> {
        if self.argidx < self.arglen && self.dict.is_none() {
            return Err(type_error(
                "not all arguments converted during string formatting",
            ));
        }
        Ok(())
    }
}

fn type_error(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

fn value_error(msg: &str) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.to_string())
}

/// A decimal width or precision starting at `i` (`None` when there are no digits).
fn digits(chars: &[char], mut i: usize) -> Result<(Option<usize>, usize), Error> {
    let mut n: Option<usize> = None;
    while i < chars.len() {
        let Some(d) = chars[i].to_digit(10) else {
            break;
        };
        let next = n
            .unwrap_or(0)
            .checked_mul(10)
            .and_then(|v| v.checked_add(d as usize))
            .filter(|v| *v <= i32::MAX as usize)
            .ok_or_else(|| value_error("width too big"))?;
        n = Some(next);
        i += 1;
    }
    Ok((n, i))
}

/// A `*` width or precision: the next argument, which must be an integer.
fn star_arg(st: &mut ArgState<'_>) -> Result<i64, Error> {
    let v = st.next_arg()?;
    match v.kind() {
        ValueKind::Bool => Ok(i64::from(v.is_true())),
        ValueKind::Number if v.is_integer() => {
            i64::try_from(v).map_err(|_| value_error("width too big"))
        }
        _ => Err(type_error("* wants int")),
    }
}

fn convert(
    out: &mut String,
    spec: &Spec,
    conv: char,
    index: usize,
    arg: &Value,
) -> Result<(), Error> {
    match conv {
        's' | 'r' | 'a' => {
            let text = match conv {
                's' => pyfmt::py_str_keep_tuples(arg)?,
                'r' => pyfmt::py_repr_keep_tuples(arg)?,
                _ => ascii(&pyfmt::py_repr_keep_tuples(arg)?),
            };
            let text = match spec.prec {
                Some(p) => text.chars().take(p).collect(),
                None => text,
            };
            pad_text(out, spec, &text);
        }
        'c' => {
            let ch = match arg.kind() {
                ValueKind::String => {
                    let s = arg.as_str().unwrap_or_default();
                    let mut it = s.chars();
                    match (it.next(), it.next()) {
                        (Some(c), None) => c,
                        _ => return Err(type_error("%c requires int or char")),
                    }
                }
                ValueKind::Bool => char::from(u8::from(arg.is_true())),
                ValueKind::Number if arg.is_integer() => i128::try_from(arg.clone())
                    .ok()
                    .and_then(|n| u32::try_from(n).ok())
                    .and_then(char::from_u32)
                    .ok_or_else(|| type_error("%c arg not in range(0x110000)"))?,
                _ => return Err(type_error("%c requires int or char")),
            };
            pad_text(out, spec, &ch.to_string());
        }
        'd' | 'i' | 'u' | 'o' | 'x' | 'X' => {
            let int = to_int(arg, conv)?;
            let (neg, body) = format_int(&int, conv, spec);
            pad_number(out, spec, neg, &body);
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            let x = to_float(arg)?;
            let body = format_float(x.abs(), conv, spec.prec.unwrap_or(6), spec.alt);
            pad_number(out, spec, x.is_sign_negative() && !x.is_nan(), &body);
        }
        other => {
            return Err(value_error(&format!(
                "unsupported format character '{other}' (0x{:x}) at index {index}",
                other as u32
            )));
        }
    }
    Ok(())
}

/// Python's `ascii()` of a `repr()`: non-ASCII characters as `\x`, `\u` or `\U` escapes.
fn ascii(repr: &str) -> String {
    let mut out = String::with_capacity(repr.len());
    for c in repr.chars() {
        let code = c as u32;
        if code < 0x80 {
            out.push(c);
        } else if code <= 0xff {
            out.push_str(&format!("\\x{code:02x}"));
        } else if code <= 0xffff {
            out.push_str(&format!("\\u{code:04x}"));
        } else {
            out.push_str(&format!("\\U{code:08x}"));
        }
    }
    out
}

/// Text conversions pad with spaces only (`0` applies to numbers).
fn pad_text(out: &mut String, spec: &Spec, text: &str) {
    let len = text.chars().count();
    let fill = spec.width.saturating_sub(len);
    if spec.left {
        out.push_str(text);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(text);
    }
}

/// Numbers: sign (`-`, or `+`/space by flag), then the body; `0` fills between the sign (and
/// a `0x`/`0o` prefix) and the digits, `-` pads on the right.
fn pad_number(out: &mut String, spec: &Spec, neg: bool, body: &str) {
    let sign = if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let len = sign.len() + body.chars().count();
    let fill = spec.width.saturating_sub(len);
    if spec.left {
        out.push_str(sign);
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero {
        out.push_str(sign);
        let prefix_len =
            if body.starts_with("0x") || body.starts_with("0X") || body.starts_with("0o") {
                2
            } else {
                0
            };
        out.push_str(&body[..prefix_len]);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(&body[prefix_len..]);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(sign);
        out.push_str(body);
    }
}

/// An integer argument: its sign and magnitude (floats beyond `u128` as decimal digits).
enum Int {
    Small(bool, u128),
    Decimal(bool, String),
}

fn to_int(arg: &Value, conv: char) -> Result<Int, Error> {
    match arg.kind() {
        ValueKind::Bool => return Ok(Int::Small(false, u128::from(arg.is_true()))),
        ValueKind::Number if arg.is_integer() => {
            if let Ok(n) = i128::try_from(arg.clone()) {
                return Ok(Int::Small(n < 0, n.unsigned_abs()));
            }
            if let Ok(n) = u128::try_from(arg.clone()) {
                return Ok(Int::Small(false, n));
            }
        }
        ValueKind::Number if matches!(conv, 'd' | 'i' | 'u') => {
            let x = f64::try_from(arg.clone()).unwrap_or(f64::NAN);
            if x.is_nan() {
                return Err(value_error("cannot convert float NaN to integer"));
            }
            if x.is_infinite() {
                return Err(value_error("cannot convert float infinity to integer"));
            }
            let t = x.trunc();
            let neg = t < 0.0;
            if t.abs() < 1e38 {
                // Exact: every integral f64 below 2^127 fits.
                return Ok(Int::Small(neg, t.abs() as u128));
            }
            return Ok(Int::Decimal(neg, format!("{:.0}", t.abs())));
        }
        _ => {}
    }
    if matches!(conv, 'd' | 'i' | 'u') {
        Err(type_error(format!(
            "%{conv} format: a real number is required, not {}",
            pyfmt::type_name(arg)
        )))
    } else {
        Err(type_error(format!(
            "%{conv} format: an integer is required, not {}",
            pyfmt::type_name(arg)
        )))
    }
}

/// Digits of an integer (with precision's zero padding and `#`'s prefix), and its sign.
fn format_int(int: &Int, conv: char, spec: &Spec) -> (bool, String) {
    let (neg, digits) = match int {
        Int::Small(neg, n) => (
            *neg && *n != 0,
            match conv {
                'o' => format!("{n:o}"),
                'x' => format!("{n:x}"),
                'X' => format!("{n:X}"),
                _ => n.to_string(),
            },
        ),
        Int::Decimal(neg, s) => (*neg, s.clone()),
    };
    let mut body = String::new();
    if spec.alt {
        match conv {
            'o' => body.push_str("0o"),
            'x' => body.push_str("0x"),
            'X' => body.push_str("0X"),
            _ => {}
        }
    }
    if let Some(p) = spec.prec {
        body.extend(std::iter::repeat_n('0', p.saturating_sub(digits.len())));
    }
    body.push_str(&digits);
    (neg, body)
}

fn to_float(arg: &Value) -> Result<f64, Error> {
    match arg.kind() {
        ValueKind::Bool => Ok(if arg.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => Ok(f64::try_from(arg.clone()).unwrap_or_else(|_| {
            // Integers beyond f64's exact range convert with rounding, as Python does.
            arg.to_string().parse().unwrap_or(f64::NAN)
        })),
        _ => Err(type_error(format!(
            "must be real number, not {}",
            pyfmt::type_name(arg)
        ))),
    }
}

/// `%e`/`%f`/`%g` (and upper-case forms) of a non-negative float, as CPython's
/// `PyOS_double_to_string`.
fn format_float(x: f64, conv: char, prec: usize, alt: bool) -> String {
    let upper = conv.is_ascii_uppercase();
    let s = if x.is_nan() {
        "nan".to_string()
    } else if x.is_infinite() {
        "inf".to_string()
    } else {
        match conv.to_ascii_lowercase() {
            'f' => {
                let mut s = format!("{x:.prec$}");
                if alt && prec == 0 {
                    s.push('.');
                }
                s
            }
            'e' => exp_form(x, prec, alt),
            _ => general_form(x, prec, alt),
        }
    };
    if upper {
        s.to_ascii_uppercase()
    } else {
        s
    }
}

/// Mantissa digits and decimal exponent of `x` rounded to `prec` fraction digits.
fn exp_parts(x: f64, prec: usize) -> (String, i32) {
    let s = format!("{x:.prec$e}");
    match s.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse().unwrap_or(0)),
        None => (s, 0),
    }
}

fn exp_form(x: f64, prec: usize, alt: bool) -> String {
    let (mut mantissa, exp) = exp_parts(x, prec);
    if alt && prec == 0 {
        mantissa.push('.');
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
}

fn general_form(x: f64, prec: usize, alt: bool) -> String {
    let p = prec.max(1);
    let exp = if x == 0.0 { 0 } else { exp_parts(x, p - 1).1 };
    let p_i = i32::try_from(p).unwrap_or(i32::MAX);
    let mut s = if (-4..p_i).contains(&exp) {
        let frac = usize::try_from(p_i - 1 - exp).unwrap_or(0);
        format!("{x:.frac$}")
    } else {
        exp_form(x, p - 1, false)
    };
    if alt {
        if !s.contains('.') {
            match s.find('e') {
                Some(e) => s.insert(e, '.'),
                None => s.push('.'),
            }
        }
        return s;
    }
    // Without `#`, trailing zeros of the fraction (and a bare point) go.
    let (num, exp_part) = match s.find('e') {
        Some(e) => (s[..e].to_string(), s[e..].to_string()),
        None => (s.clone(), String::new()),
    };
    let num = if num.contains('.') {
        num.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        num
    };
    format!("{num}{exp_part}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (format, arguments as a Jinja expression, Python's result or `ERR: message`), generated
    /// with CPython 3.11 / Jinja2 3.1 (`'fmt' % env.compile_expression(args)()`).
    const CASES: &[(&str, &str, &str)] = &include!("percent_cases.in");

    #[test]
    fn matches_python() {
        let env = minijinja::Environment::new();
        let names = minijinja::context! { inf => f64::INFINITY, nan => f64::NAN };
        let mut failures = Vec::new();
        for &(format, args, want) in CASES {
            let args = env
                .compile_expression(args)
                .and_then(|e| e.eval(&names))
                .unwrap_or_else(|e| panic!("{args}: {e}"));
            let got = match percent_format(format, &args) {
                Ok(s) => s,
                Err(e) => format!("ERR: {}", e.detail().unwrap_or_default()),
            };
            if got != want {
                failures.push(format!("{format:?} % {args:?}: want {want:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn tuple_spreads_list_does_not() {
        let env = minijinja::Environment::new();
        let eval = |e: &str| env.compile_expression(e).unwrap().eval(()).unwrap();
        assert!(eval("(1, 2)").is_tuple());
        assert!(!eval("[1, 2]").is_tuple());
        assert_eq!(percent_format("%s-%s", &eval("(1, 2)")).unwrap(), "1-2");
        assert_eq!(percent_format("%s", &eval("[1, 2]")).unwrap(), "[1, 2]");
    }
}
