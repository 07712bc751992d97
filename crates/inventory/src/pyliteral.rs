//! Python's `ast.literal_eval`, as Ansible's INI plugin applies it to every `key=value`.
//!
//! Ansible turns `port=22` into an int, `debug=True` into a bool and `tags="['a']"` into a list,
//! and keeps anything that is not a Python literal (`yes`, `/srv/www`, `1.2.3`) as the original
//! string. To match that, this module recognises exactly Python's literal grammar: a value it
//! cannot read is handed back to the caller unchanged rather than guessed at.

use serde_json::{Map, Number, Value};

/// A Python value that `literal_eval` can produce.
#[derive(Debug, Clone, PartialEq)]
enum PyVal {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    /// Ansible turns complex numbers back into `str(value)`; the normalised source stands in.
    Complex(String),
    Str(String),
    Bytes(Vec<u8>),
    Ellipsis,
    List(Vec<PyVal>),
    Tuple(Vec<PyVal>),
    Set(Vec<PyVal>),
    Dict(Vec<(PyVal, PyVal)>),
}

/// The INI plugin's `_parse_value`: the literal's value, or `text` itself as a string when
/// `text` is not a Python literal.
pub(crate) fn parse_ini_value(text: &str) -> Value {
    match literal_eval(text) {
        Some(v) => to_json(&v),
        None => Value::String(text.to_string()),
    }
}

fn literal_eval(text: &str) -> Option<PyVal> {
    // literal_eval strips leading blanks before parsing (Python >= 3.9).
    let tokens = tokenize(text.trim_start_matches([' ', '\t']))?;
    let mut parser = Parser { tokens, pos: 0 };
    let ast = parser.top()?;
    convert(&ast)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(PyVal),
    Str(PyVal),
    Name(String),
    Punct(char),
    Ellipsis,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Python's `MAXLEVEL`: brackets nested deeper are a syntax error.
const MAX_NESTING: usize = 200;

fn tokenize(src: &str) -> Option<Vec<Tok>> {
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut depth = 0usize;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\x0c' => i += 1,
            '\r' | '\n' => {
                // Only bracketed expressions may span lines; a trailing newline is harmless.
                if depth == 0 && chars[i..].iter().any(|c| !c.is_whitespace()) {
                    return None;
                }
                i += 1;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '\\' => {
                // Explicit line continuation.
                match chars.get(i + 1) {
                    Some('\n') => i += 2,
                    Some('\r') if chars.get(i + 2) == Some(&'\n') => i += 3,
                    _ => return None,
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                // Python's tokenizer refuses deeper nesting ("too many nested parentheses"),
                // so the value stays a string; the limit also bounds the parser's recursion.
                if depth > MAX_NESTING {
                    return None;
                }
                out.push(Tok::Punct(c));
                i += 1;
            }
            ')' | ']' | '}' => {
                depth = depth.checked_sub(1)?;
                out.push(Tok::Punct(c));
                i += 1;
            }
            ',' | ':' | '+' | '-' => {
                out.push(Tok::Punct(c));
                i += 1;
            }
            '.' if chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                let (tok, next) = lex_number(&chars, i)?;
                out.push(tok);
                i = next;
            }
            '.' if chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') => {
                out.push(Tok::Ellipsis);
                i += 3;
            }
            '\'' | '"' => {
                let (tok, next) = lex_string(&chars, i, "")?;
                out.push(tok);
                i = next;
            }
            c if c.is_ascii_digit() => {
                let (tok, next) = lex_number(&chars, i)?;
                out.push(tok);
                i = next;
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < chars.len() && is_ident_continue(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if matches!(chars.get(i), Some('\'' | '"')) {
                    let (tok, next) = lex_string(&chars, i, &word)?;
                    out.push(tok);
                    i = next;
                } else {
                    out.push(Tok::Name(word));
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

/// `digit (_? digit)*` in the given radix; returns the digits without underscores.
fn digit_part(chars: &[char], mut i: usize, radix: u32) -> (String, usize) {
    let mut digits = String::new();
    while i < chars.len() {
        if chars[i].is_digit(radix) {
            digits.push(chars[i]);
            i += 1;
        } else if chars[i] == '_'
            && !digits.is_empty()
            && chars.get(i + 1).is_some_and(|c| c.is_digit(radix))
        {
            i += 1;
        } else {
            break;
        }
    }
    (digits, i)
}

fn int_from_radix(digits: &str, radix: u32) -> PyVal {
    match i128::from_str_radix(digits, radix) {
        Ok(n) => PyVal::Int(n),
        // Python has big integers; past i128 a float is the closest JSON can carry.
        Err(_) => PyVal::Float(
            digits
                .chars()
                .filter_map(|c| c.to_digit(radix))
                .fold(0.0, |acc, d| acc * f64::from(radix) + f64::from(d)),
        ),
    }
}

fn lex_number(chars: &[char], start: usize) -> Option<(Tok, usize)> {
    let mut i = start;
    let radix = match (chars.get(i), chars.get(i + 1)) {
        (Some('0'), Some('x' | 'X')) => Some(16),
        (Some('0'), Some('o' | 'O')) => Some(8),
        (Some('0'), Some('b' | 'B')) => Some(2),
        _ => None,
    };
    let value = if let Some(radix) = radix {
        i += 2;
        // An underscore may follow the prefix: `0x_ff`.
        if chars.get(i) == Some(&'_') {
            i += 1;
        }
        let (digits, next) = digit_part(chars, i, radix);
        if digits.is_empty() {
            return None;
        }
        i = next;
        int_from_radix(&digits, radix)
    } else {
        let (int_part, next) = digit_part(chars, i, 10);
        i = next;
        let mut text = int_part.clone();
        let mut is_float = false;
        if chars.get(i) == Some(&'.') {
            let (frac, next) = digit_part(chars, i + 1, 10);
            if int_part.is_empty() && frac.is_empty() {
                return None;
            }
            is_float = true;
            text.push('.');
            text.push_str(&frac);
            i = next;
        }
        if matches!(chars.get(i), Some('e' | 'E')) {
            let mut j = i + 1;
            let mut exp = String::from("e");
            if let Some(sign @ ('+' | '-')) = chars.get(j) {
                exp.push(*sign);
                j += 1;
            }
            let (digits, next) = digit_part(chars, j, 10);
            if digits.is_empty() {
                return None;
            }
            exp.push_str(&digits);
            text.push_str(&exp);
            is_float = true;
            i = next;
        }
        if matches!(chars.get(i), Some('j' | 'J')) {
            i += 1;
            if chars.get(i).is_some_and(|c| is_ident_continue(*c)) {
                return None;
            }
            return Some((Tok::Num(PyVal::Complex(format!("{text}j"))), i));
        }
        if is_float {
            PyVal::Float(text.parse::<f64>().ok()?)
        } else {
            // Python 3 rejects `010`; only all-zero literals may start with 0.
            if int_part.len() > 1 && int_part.starts_with('0') && int_part.contains(|c| c != '0') {
                return None;
            }
            int_from_radix(&int_part, 10)
        }
    };
    // `1abc`, `0x1g`, `1_` are syntax errors in Python.
    if chars
        .get(i)
        .is_some_and(|c| is_ident_continue(*c) || *c == '.')
    {
        return None;
    }
    Some((Tok::Num(value), i))
}

fn lex_string(chars: &[char], start: usize, prefix: &str) -> Option<(Tok, usize)> {
    let lower = prefix.to_ascii_lowercase();
    let (raw, bytes) = match lower.as_str() {
        "" | "u" => (false, false),
        "r" => (true, false),
        "b" => (false, true),
        "br" | "rb" => (true, true),
        // f-strings are JoinedStr nodes, which literal_eval rejects; other prefixes are errors.
        _ => return None,
    };
    let quote = chars[start];
    let triple = chars.get(start + 1) == Some(&quote) && chars.get(start + 2) == Some(&quote);
    let mut i = start + if triple { 3 } else { 1 };
    let mut text = String::new();
    let mut data: Vec<u8> = Vec::new();
    let push = |c: char, text: &mut String, data: &mut Vec<u8>| -> Option<()> {
        if bytes {
            data.push(u8::try_from(u32::from(c)).ok().filter(u8::is_ascii)?);
        } else {
            text.push(c);
        }
        Some(())
    };
    loop {
        let c = *chars.get(i)?;
        if c == quote {
            if !triple {
                i += 1;
                break;
            }
            if chars.get(i + 1) == Some(&quote) && chars.get(i + 2) == Some(&quote) {
                i += 3;
                break;
            }
        }
        if c == '\n' && !triple {
            return None;
        }
        if c != '\\' {
            push(c, &mut text, &mut data)?;
            i += 1;
            continue;
        }
        let next = *chars.get(i + 1)?;
        if raw {
            // A raw string keeps the backslash, but `\'` still does not end it.
            push('\\', &mut text, &mut data)?;
            push(next, &mut text, &mut data)?;
            i += 2;
            continue;
        }
        i += 2;
        let simple = match next {
            '\n' => continue,
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\x0b'),
            _ => None,
        };
        if let Some(ch) = simple {
            push(ch, &mut text, &mut data)?;
            continue;
        }
        match next {
            '0'..='7' => {
                let mut value = next.to_digit(8)?;
                for _ in 0..2 {
                    match chars.get(i).and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            i += 1;
                        }
                        None => break,
                    }
                }
                if bytes {
                    data.push(u8::try_from(value).ok()?);
                } else {
                    text.push(char::from_u32(value)?);
                }
            }
            'x' => {
                let value = hex_value(chars.get(i..i + 2)?)?;
                i += 2;
                if bytes {
                    data.push(u8::try_from(value).ok()?);
                } else {
                    text.push(char::from_u32(value)?);
                }
            }
            'u' | 'U' if !bytes => {
                let len = if next == 'u' { 4 } else { 8 };
                // Lone surrogates would be valid Python but cannot be a Rust string.
                text.push(char::from_u32(hex_value(chars.get(i..i + len)?)?)?);
                i += len;
            }
            // `\N{NAME}` needs the Unicode name table; treat it as "not a literal".
            'N' if !bytes => return None,
            other => {
                // Unknown escapes keep their backslash (Python only warns).
                push('\\', &mut text, &mut data)?;
                push(other, &mut text, &mut data)?;
            }
        }
    }
    let value = if bytes {
        PyVal::Bytes(data)
    } else {
        PyVal::Str(text)
    };
    Some((Tok::Str(value), i))
}

/// Exactly these hex digits (`from_str_radix` alone would also take a sign).
fn hex_value(digits: &[char]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0u32, |acc, c| Some(acc * 16 + c.to_digit(16)?))
}

/// The expression tree, just detailed enough to apply literal_eval's acceptance rules.
#[derive(Debug, Clone)]
enum Ast {
    Const(PyVal),
    /// Any other name (`yes`, `web01`): never a literal.
    Name,
    Unary {
        negative: bool,
        operand: Box<Ast>,
    },
    Binary {
        subtract: bool,
        left: Box<Ast>,
        right: Box<Ast>,
    },
    EmptySetCall,
    List(Vec<Ast>),
    Tuple(Vec<Ast>),
    Set(Vec<Ast>),
    Dict(Vec<(Ast, Ast)>),
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn peek_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek_punct(c);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn top(&mut self) -> Option<Ast> {
        let first = self.expr()?;
        let ast = if self.peek_punct(',') {
            let mut items = vec![first];
            while self.eat(',') {
                if self.peek().is_none() {
                    break;
                }
                items.push(self.expr()?);
            }
            Ast::Tuple(items)
        } else {
            first
        };
        self.peek().is_none().then_some(ast)
    }

    fn expr(&mut self) -> Option<Ast> {
        let mut left = self.unary()?;
        loop {
            let subtract = if self.eat('+') {
                false
            } else if self.eat('-') {
                true
            } else {
                return Some(left);
            };
            let right = self.unary()?;
            left = Ast::Binary {
                subtract,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
    }

    fn unary(&mut self) -> Option<Ast> {
        let negative = if self.eat('-') {
            true
        } else if self.eat('+') {
            false
        } else {
            return self.atom();
        };
        // literal_eval accepts one sign before a number, never a sign before a sign; stopping
        // here also keeps `------...1` from recursing once per sign.
        if self.peek_punct('-') || self.peek_punct('+') {
            return None;
        }
        Some(Ast::Unary {
            negative,
            operand: Box::new(self.unary()?),
        })
    }

    /// Comma-separated items up to `close`, allowing a trailing comma.
    fn items(&mut self, close: char) -> Option<(Vec<Ast>, bool)> {
        let mut items = Vec::new();
        let mut saw_comma = false;
        while !self.eat(close) {
            items.push(self.expr()?);
            if self.eat(',') {
                saw_comma = true;
            } else if self.eat(close) {
                break;
            } else {
                return None;
            }
        }
        Some((items, saw_comma))
    }

    fn atom(&mut self) -> Option<Ast> {
        let tok = self.peek()?.clone();
        self.pos += 1;
        let ast = match tok {
            Tok::Num(v) => Ast::Const(v),
            Tok::Ellipsis => Ast::Const(PyVal::Ellipsis),
            Tok::Str(first) => {
                // Adjacent literals concatenate; mixing bytes and str is a syntax error.
                let mut acc = first;
                while let Some(Tok::Str(next)) = self.peek().cloned() {
                    self.pos += 1;
                    acc = match (acc, next) {
                        (PyVal::Str(a), PyVal::Str(b)) => PyVal::Str(a + &b),
                        (PyVal::Bytes(mut a), PyVal::Bytes(b)) => {
                            a.extend(b);
                            PyVal::Bytes(a)
                        }
                        _ => return None,
                    };
                }
                Ast::Const(acc)
            }
            Tok::Name(name) => match name.as_str() {
                "True" => Ast::Const(PyVal::Bool(true)),
                "False" => Ast::Const(PyVal::Bool(false)),
                "None" => Ast::Const(PyVal::None),
                "set" if self.peek_punct('(') => {
                    self.pos += 1;
                    if !self.eat(')') {
                        return None;
                    }
                    Ast::EmptySetCall
                }
                _ => Ast::Name,
            },
            Tok::Punct('(') => {
                if self.eat(')') {
                    Ast::Tuple(Vec::new())
                } else {
                    let first = self.expr()?;
                    if self.eat(')') {
                        first
                    } else if self.eat(',') {
                        let (mut rest, _) = self.items(')')?;
                        rest.insert(0, first);
                        Ast::Tuple(rest)
                    } else {
                        return None;
                    }
                }
            }
            Tok::Punct('[') => Ast::List(self.items(']')?.0),
            Tok::Punct('{') => self.dict_or_set()?,
            Tok::Punct(_) => return None,
        };
        // Calls, subscripts and attribute access are never literals.
        if self.peek_punct('(') || self.peek_punct('[') {
            return None;
        }
        Some(ast)
    }

    fn dict_or_set(&mut self) -> Option<Ast> {
        if self.eat('}') {
            return Some(Ast::Dict(Vec::new()));
        }
        let first = self.expr()?;
        if self.eat(':') {
            let mut pairs = vec![(first, self.expr()?)];
            loop {
                if self.eat('}') {
                    break;
                }
                if !self.eat(',') {
                    return None;
                }
                if self.eat('}') {
                    break;
                }
                let key = self.expr()?;
                if !self.eat(':') {
                    return None;
                }
                pairs.push((key, self.expr()?));
            }
            Some(Ast::Dict(pairs))
        } else {
            let mut items = vec![first];
            if !self.eat('}') {
                if !self.eat(',') {
                    return None;
                }
                let (rest, _) = self.items('}')?;
                items.extend(rest);
            }
            Some(Ast::Set(items))
        }
    }
}

/// `literal_eval`'s `_convert`: which trees are literals.
fn convert(ast: &Ast) -> Option<PyVal> {
    match ast {
        Ast::Const(v) => Some(v.clone()),
        Ast::Tuple(items) => Some(PyVal::Tuple(convert_all(items)?)),
        Ast::List(items) => Some(PyVal::List(convert_all(items)?)),
        Ast::Set(items) => {
            let mut unique: Vec<PyVal> = Vec::new();
            for v in convert_all(items)? {
                if !hashable(&v) {
                    return None;
                }
                if !unique.contains(&v) {
                    unique.push(v);
                }
            }
            Some(PyVal::Set(unique))
        }
        Ast::EmptySetCall => Some(PyVal::Set(Vec::new())),
        Ast::Dict(pairs) => {
            let mut out: Vec<(PyVal, PyVal)> = Vec::new();
            for (k, v) in pairs {
                let (k, v) = (convert(k)?, convert(v)?);
                if !hashable(&k) {
                    return None;
                }
                match out.iter_mut().find(|(existing, _)| *existing == k) {
                    Some(slot) => slot.1 = v,
                    None => out.push((k, v)),
                }
            }
            Some(PyVal::Dict(out))
        }
        Ast::Binary {
            subtract,
            left,
            right,
        } => {
            // Only `real +/- imaginary` is accepted, e.g. `1+2j`.
            let l = convert_signed_num(left)?;
            let r = convert_num(right)?;
            match (&l, &r) {
                (PyVal::Int(_) | PyVal::Float(_), PyVal::Complex(imag)) => {
                    let op = if *subtract { '-' } else { '+' };
                    Some(PyVal::Complex(format!("({}{op}{imag})", py_repr(&l))))
                }
                _ => None,
            }
        }
        _ => convert_signed_num(ast),
    }
}

fn convert_all(items: &[Ast]) -> Option<Vec<PyVal>> {
    items.iter().map(convert).collect()
}

fn convert_signed_num(ast: &Ast) -> Option<PyVal> {
    match ast {
        Ast::Unary { negative, operand } => {
            let v = convert_num(operand)?;
            if !negative {
                return Some(v);
            }
            Some(match v {
                PyVal::Int(n) => PyVal::Int(-n),
                PyVal::Float(f) => PyVal::Float(-f),
                PyVal::Complex(s) => PyVal::Complex(format!("-{s}")),
                _ => return None,
            })
        }
        _ => convert_num(ast),
    }
}

fn convert_num(ast: &Ast) -> Option<PyVal> {
    match ast {
        Ast::Const(v @ (PyVal::Int(_) | PyVal::Float(_) | PyVal::Complex(_))) => Some(v.clone()),
        _ => None,
    }
}

fn hashable(v: &PyVal) -> bool {
    match v {
        PyVal::List(_) | PyVal::Set(_) | PyVal::Dict(_) => false,
        PyVal::Tuple(items) => items.iter().all(hashable),
        _ => true,
    }
}

/// Python's `repr()` for the scalar and tuple values that can be dict keys.
fn py_repr(v: &PyVal) -> String {
    match v {
        PyVal::None => "None".into(),
        PyVal::Bool(true) => "True".into(),
        PyVal::Bool(false) => "False".into(),
        PyVal::Int(n) => n.to_string(),
        PyVal::Float(f) => py_float_repr(*f),
        PyVal::Complex(s) => s.clone(),
        PyVal::Str(s) => {
            let quote = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::from(quote);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        }
        PyVal::Bytes(b) => format!("b{}", py_repr(&PyVal::Str(bytes_text(b)))),
        PyVal::Ellipsis => "Ellipsis".into(),
        PyVal::Tuple(items) if items.len() == 1 => format!("({},)", py_repr(&items[0])),
        PyVal::Tuple(items) => format!(
            "({})",
            items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        PyVal::List(items) | PyVal::Set(items) => format!(
            "[{}]",
            items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        PyVal::Dict(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let magnitude = f.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        // Python switches to exponent notation here and always signs a two-digit exponent.
        let s = format!("{f:e}");
        if let Some((mantissa, exp)) = s.split_once('e') {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            return format!("{mantissa}e{sign}{digits:0>2}");
        }
        return s;
    }
    let s = format!("{f}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

fn bytes_text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What Ansible stores after `_parse_recursive_coerce_types_and_tag`, as JSON: tuples and sets
/// become lists, bytes and complex numbers become strings, dict keys become `str(key)`.
fn to_json(v: &PyVal) -> Value {
    match v {
        PyVal::None => Value::Null,
        PyVal::Bool(b) => Value::Bool(*b),
        PyVal::Int(n) => i64::try_from(*n)
            .map(Number::from)
            .or_else(|_| u64::try_from(*n).map(Number::from))
            .ok()
            .or_else(|| Number::from_f64(*n as f64))
            .map_or_else(|| Value::String(n.to_string()), Value::Number),
        PyVal::Float(f) => {
            Number::from_f64(*f).map_or_else(|| Value::String(py_float_repr(*f)), Value::Number)
        }
        PyVal::Complex(s) => Value::String(s.clone()),
        PyVal::Str(s) => Value::String(s.clone()),
        PyVal::Bytes(b) => Value::String(bytes_text(b)),
        PyVal::Ellipsis => Value::String("...".into()),
        PyVal::List(items) | PyVal::Tuple(items) | PyVal::Set(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        PyVal::Dict(pairs) => {
            let mut map = Map::new();
            for (k, v) in pairs {
                let key = match k {
                    PyVal::Str(s) => s.clone(),
                    PyVal::Bytes(b) => py_repr(&PyVal::Bytes(b.clone())),
                    other => py_repr(other),
                };
                map.insert(key, to_json(v));
            }
            Value::Object(map)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(s: &str) -> Value {
        parse_ini_value(s)
    }

    #[test]
    fn numbers() {
        assert_eq!(v("22"), json!(22));
        assert_eq!(v("-1"), json!(-1));
        assert_eq!(v("+7"), json!(7));
        assert_eq!(v("1_000"), json!(1000));
        assert_eq!(v("0x1F"), json!(31));
        assert_eq!(v("0o17"), json!(15));
        assert_eq!(v("0b101"), json!(5));
        assert_eq!(v("0"), json!(0));
        assert_eq!(v("00"), json!(0));
        assert_eq!(v("1.5"), json!(1.5));
        assert_eq!(v("1."), json!(1.0));
        assert_eq!(v(".5"), json!(0.5));
        assert_eq!(v("1e3"), json!(1000.0));
        assert_eq!(v("-(1)"), json!(-1));
        assert_eq!(v("2j"), json!("2j"));
        assert_eq!(v("1+2j"), json!("(1+2j)"));
        assert_eq!(v("1e999"), json!("inf"));
        // Not Python literals: kept verbatim.
        for s in [
            "010", "1_", "1__0", "0x", "1e", "1.2.3", "--1", "1+2", "-True", "08", "1abc",
        ] {
            assert_eq!(v(s), json!(s), "{s}");
        }
    }

    #[test]
    fn keywords_and_names() {
        assert_eq!(v("True"), json!(true));
        assert_eq!(v("False"), json!(false));
        assert_eq!(v("None"), Value::Null);
        assert_eq!(v("..."), json!("..."));
        for s in [
            "true",
            "yes",
            "FALSE",
            "none",
            "abc",
            "web01",
            "/srv/www",
            "a.b",
            "http://x/y",
            "",
            "a b",
            "a=b",
            "set(1)",
            "f'x'",
            "x()",
        ] {
            assert_eq!(v(s), json!(s), "{s}");
        }
    }

    #[test]
    fn strings() {
        assert_eq!(v("'hello'"), json!("hello"));
        assert_eq!(v("\"a b\""), json!("a b"));
        assert_eq!(v("'a' \"b\""), json!("ab"));
        assert_eq!(v(r"'a\nb'"), json!("a\nb"));
        assert_eq!(v(r"'\x41\101\u00e9'"), json!("AAé"));
        assert_eq!(v(r"'\d'"), json!("\\d"));
        assert_eq!(v(r"r'\d\''"), json!("\\d\\'"));
        assert_eq!(v("b'xyz'"), json!("xyz"));
        assert_eq!(v("'''tri'ple'''"), json!("tri'ple"));
        assert_eq!(v("'03#pa33w0rd'"), json!("03#pa33w0rd"));
        for s in ["'unterminated", "b'é'", "'a' b'b'", r"'\N{BULLET}'"] {
            assert_eq!(v(s), json!(s), "{s}");
        }
    }

    #[test]
    fn containers() {
        assert_eq!(v("[1, 'a', None]"), json!([1, "a", null]));
        assert_eq!(v("[]"), json!([]));
        assert_eq!(v("[1,]"), json!([1]));
        assert_eq!(v("(1, 2)"), json!([1, 2]));
        assert_eq!(v("()"), json!([]));
        assert_eq!(v("(1)"), json!(1));
        assert_eq!(v("1, 2"), json!([1, 2]));
        assert_eq!(v("1,"), json!([1]));
        assert_eq!(v("{1, 2, 1}"), json!([1, 2]));
        assert_eq!(v("set()"), json!([]));
        assert_eq!(
            v("{'a': 1, 2: [True], None: 'x', (1, 'b'): 0}"),
            json!({"a": 1, "2": [true], "None": "x", "(1, 'b')": 0})
        );
        assert_eq!(v("{'a': 1, 'a': 2}"), json!({"a": 2}));
        assert_eq!(v("{}"), json!({}));
        assert_eq!(v("[1, 2] # trailing comment"), json!([1, 2]));
        assert_eq!(v("8080 # http"), json!(8080));
        for s in [
            "[1, 2",
            "{1: 2, 3}",
            "{[1]: 2}",
            "{[1]}",
            "[1][0]",
            "{**a}",
            "[1 2]",
        ] {
            assert_eq!(v(s), json!(s), "{s}");
        }
    }

    #[test]
    fn nesting_past_pythons_limit_stays_a_string() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(v(&deep(3)), json!([[[]]]));
        assert!(v(&deep(200)).is_array());
        assert_eq!(v(&deep(201)), json!(deep(201)));
        assert_eq!(v(&deep(100_000)), json!(deep(100_000)));
        let signs = format!("{}1", "-".repeat(100_000));
        assert_eq!(v(&signs), json!(signs));
        assert_eq!(v("--1"), json!("--1"));
        assert_eq!(v("-1"), json!(-1));
        assert_eq!(v("+1"), json!(1));
    }

    #[test]
    fn float_repr_matches_python() {
        assert_eq!(py_float_repr(1.0), "1.0");
        assert_eq!(py_float_repr(1.5), "1.5");
        assert_eq!(py_float_repr(1e20), "1e+20");
        assert_eq!(py_float_repr(1.5e-5), "1.5e-05");
    }
}
