//! Module arguments → typed params, with Ansible's coercions and errors that name the parameter.
//!
//! One deserializer serves two moments:
//! - [`ArgMode::Compile`]: the playbook's arguments before templating. A string holding a
//!   template (`"{{ x }}"`) stands for "some value of the right type", so unknown or missing
//!   parameters and literal values of the wrong type are caught before any host is contacted.
//! - [`ArgMode::Run`]: the templated arguments for one host.
//!
//! Coercions follow Ansible's argument spec: `"yes"`/`"true"`/`1` for booleans, numbers for
//! strings, numeric strings for numbers, and comma-separated strings for lists.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde_json::{Map, Value};

/// Whether the arguments may still contain templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgMode {
    Compile,
    Run,
}

/// A parameter problem, with the path of the parameter it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    /// Keys from the module's argument mapping down to the offending value. Empty for the
    /// whole argument set (e.g. a missing required parameter).
    pub path: Vec<String>,
    pub kind: ArgErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgErrorKind {
    UnknownParam {
        name: String,
        expected: Vec<&'static str>,
    },
    MissingParam {
        name: &'static str,
    },
    UnknownChoice {
        value: String,
        expected: Vec<&'static str>,
    },
    Invalid(String),
}

impl ArgError {
    fn invalid(msg: impl Into<String>) -> Self {
        ArgError {
            path: Vec::new(),
            kind: ArgErrorKind::Invalid(msg.into()),
        }
    }

    fn within(mut self, key: &str) -> Self {
        self.path.insert(0, key.to_string());
        self
    }

    /// The names a misspelling could have meant, for "did you mean".
    pub fn candidates(&self) -> &[&'static str] {
        match &self.kind {
            ArgErrorKind::UnknownParam { expected, .. }
            | ArgErrorKind::UnknownChoice { expected, .. } => expected,
            _ => &[],
        }
    }

    /// The misspelt word, if the error is about one.
    pub fn misspelt(&self) -> Option<&str> {
        match &self.kind {
            ArgErrorKind::UnknownParam { name, .. } => Some(name),
            ArgErrorKind::UnknownChoice { value, .. } => Some(value),
            _ => None,
        }
    }
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.path.is_empty() {
            String::new()
        } else {
            format!("parameter `{}`: ", self.path.join("."))
        };
        match &self.kind {
            ArgErrorKind::UnknownParam { name, expected } => {
                write!(f, "unsupported parameter `{name}`")?;
                if !expected.is_empty() {
                    write!(f, " (supported: {})", expected.join(", "))?;
                }
                Ok(())
            }
            ArgErrorKind::MissingParam { name } => {
                write!(f, "{at}missing required parameter `{name}`")
            }
            ArgErrorKind::UnknownChoice { value, expected } => write!(
                f,
                "{at}value `{value}` is not one of: {}",
                expected.join(", ")
            ),
            ArgErrorKind::Invalid(msg) => write!(f, "{at}{msg}"),
        }
    }
}

impl std::error::Error for ArgError {}

impl de::Error for ArgError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ArgError::invalid(msg.to_string())
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        ArgError {
            path: Vec::new(),
            kind: ArgErrorKind::UnknownParam {
                name: field.to_string(),
                expected: expected.to_vec(),
            },
        }
    }

    fn missing_field(field: &'static str) -> Self {
        ArgError {
            path: Vec::new(),
            kind: ArgErrorKind::MissingParam { name: field },
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        ArgError {
            path: Vec::new(),
            kind: ArgErrorKind::UnknownChoice {
                value: variant.to_string(),
                expected: expected.to_vec(),
            },
        }
    }
}

/// Whether a string holds Jinja markup that templating will replace.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// Deserializes module arguments into typed params.
pub fn from_args<T: DeserializeOwned>(args: &Value, mode: ArgMode) -> Result<T, ArgError> {
    T::deserialize(ArgDeserializer { value: args, mode })
}

/// Ansible's boolean strings (`AnsibleModule`'s `BOOLEANS`).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "on" | "1" | "true" | "t" | "y" | "1.0" => Some(true),
        "no" | "off" | "0" | "false" | "f" | "n" | "0.0" => Some(false),
        _ => None,
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

struct ArgDeserializer<'a> {
    value: &'a Value,
    mode: ArgMode,
}

impl ArgDeserializer<'_> {
    /// A template string at compile time: any value of the wanted type will do.
    fn wildcard(&self) -> bool {
        self.mode == ArgMode::Compile && matches!(self.value, Value::String(s) if is_template(s))
    }

    fn expected(&self, what: &str) -> ArgError {
        ArgError::invalid(format!("expected {what}, found {}", describe(self.value)))
    }

    fn integer(&self) -> Result<i128, ArgError> {
        if self.wildcard() {
            return Ok(0);
        }
        match self.value {
            Value::Number(n) => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i128))
                .ok_or_else(|| self.expected("an integer")),
            Value::String(s) => s.trim().parse().map_err(|_| self.expected("an integer")),
            Value::Bool(b) => Ok(i128::from(*b)),
            _ => Err(self.expected("an integer")),
        }
    }
}

macro_rules! deserialize_integer {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
            let n = self.integer()?;
            let n = <$ty>::try_from(n).map_err(|_| ArgError::invalid(format!("{n} is out of range")))?;
            visitor.$visit(n)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ArgDeserializer<'_> {
    type Error = ArgError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
                index: 0,
                mode: self.mode,
            }),
            Value::Object(map) => visitor.visit_map(MapAccess {
                entries: map.iter(),
                current: None,
                mode: self.mode,
            }),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        if self.wildcard() {
            return visitor.visit_bool(false);
        }
        let b = match self.value {
            Value::Bool(b) => Some(*b),
            Value::String(s) => parse_bool(s),
            Value::Number(n) => match n.as_f64() {
                Some(1.0) => Some(true),
                Some(0.0) => Some(false),
                _ => None,
            },
            _ => None,
        };
        match b {
            Some(b) => visitor.visit_bool(b),
            None => Err(self.expected("a boolean (yes/no, true/false)")),
        }
    }

    deserialize_integer! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        if self.wildcard() {
            return visitor.visit_f64(0.0);
        }
        match self.value {
            Value::Number(n) => visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| self.expected("a number"))
                .and_then(|f| visitor.visit_f64(f)),
            _ => Err(self.expected("a number")),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        match self.value {
            Value::String(s) => visitor.visit_str(s),
            Value::Number(n) => visitor.visit_string(n.to_string()),
            // Python's str(True), which is what Ansible hands a module.
            Value::Bool(b) => visitor.visit_str(if *b { "True" } else { "False" }),
            _ => Err(self.expected("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.expected("nothing")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ArgError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ArgError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        if self.wildcard() {
            return visitor.visit_seq(SeqAccess {
                items: [].iter(),
                index: 0,
                mode: self.mode,
            });
        }
        match self.value {
            Value::Array(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
                index: 0,
                mode: self.mode,
            }),
            // Ansible's list type accepts "a,b,c".
            Value::String(s) => {
                let items: Vec<Value> = s
                    .split(',')
                    .map(|part| Value::String(part.trim().to_string()))
                    .filter(|v| v.as_str() != Some(""))
                    .collect();
                visitor.visit_seq(SeqAccess {
                    items: items.into_iter(),
                    index: 0,
                    mode: self.mode,
                })
            }
            Value::Null => Err(self.expected("a list")),
            scalar => visitor.visit_seq(SeqAccess {
                items: vec![scalar.clone()].into_iter(),
                index: 0,
                mode: self.mode,
            }),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ArgError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ArgError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        match self.value {
            Value::Object(map) => visitor.visit_map(MapAccess {
                entries: map.iter(),
                current: None,
                mode: self.mode,
            }),
            _ if self.wildcard() => visitor.visit_map(MapAccess {
                entries: EMPTY_MAP.iter(),
                current: None,
                mode: self.mode,
            }),
            _ => Err(self.expected("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ArgError> {
        match self.value {
            Value::Object(_) => self.deserialize_map(visitor),
            _ => Err(self.expected("a mapping")),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ArgError> {
        if self.wildcard() {
            let first = variants.first().copied().unwrap_or_default();
            return visitor.visit_enum(first.into_deserializer());
        }
        match self.value {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            // YAML 1.1 turns `state: yes` style values into booleans; Ansible sees "True".
            Value::Bool(b) => {
                let s = if *b { "True" } else { "False" };
                visitor.visit_enum(s.into_deserializer())
            }
            Value::Number(n) => visitor.visit_enum(n.to_string().into_deserializer()),
            _ => Err(self.expected(&format!("one of: {}", variants.join(", ")))),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        visitor.visit_unit()
    }
}

static EMPTY_MAP: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// Elements of a list, borrowed from the arguments or built from a comma-separated string.
struct SeqAccess<I> {
    items: I,
    index: usize,
    mode: ArgMode,
}

impl<'de, I, B> de::SeqAccess<'de> for SeqAccess<I>
where
    I: Iterator<Item = B>,
    B: std::borrow::Borrow<Value>,
{
    type Error = ArgError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ArgError> {
        let Some(value) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(ArgDeserializer {
            value: value.borrow(),
            mode: self.mode,
        })
        .map(Some)
        .map_err(|e| e.within(&index.to_string()))
    }
}

struct MapAccess<'a> {
    entries: serde_json::map::Iter<'a>,
    current: Option<(&'a String, &'a Value)>,
    mode: ArgMode,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_> {
    type Error = ArgError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ArgError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.current = Some((key, value));
        let key_value = Value::String(key.clone());
        seed.deserialize(ArgDeserializer {
            value: &key_value,
            mode: ArgMode::Run,
        })
        .map(Some)
        .map_err(|e| match e.kind {
            // The unknown key is itself the path, so the caret lands on it.
            ArgErrorKind::UnknownParam { .. } => e.within(key),
            _ => e,
        })
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ArgError> {
        let Some((key, value)) = self.current.take() else {
            return Err(ArgError::invalid("value without a key"));
        };
        seed.deserialize(ArgDeserializer {
            value,
            mode: self.mode,
        })
        .map_err(|e| e.within(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum State {
        File,
        Directory,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Params {
        path: String,
        #[serde(default)]
        force: bool,
        state: Option<State>,
        port: Option<u16>,
        #[serde(default)]
        names: Vec<String>,
    }

    fn run(v: Value) -> Result<Params, ArgError> {
        from_args(&v, ArgMode::Run)
    }

    #[test]
    fn ansible_coercions() {
        let p =
            run(json!({"path": 42, "force": "yes", "port": "8080", "names": "a, b"})).expect("ok");
        assert_eq!(p.path, "42");
        assert!(p.force);
        assert_eq!(p.port, Some(8080));
        assert_eq!(p.names, vec!["a", "b"]);
    }

    #[test]
    fn unknown_parameter_names_the_key_and_candidates() {
        let e = run(json!({"path": "/x", "mdoe": "0644"})).expect_err("unknown");
        assert_eq!(e.path, vec!["mdoe"]);
        assert_eq!(e.misspelt(), Some("mdoe"));
        assert!(e.candidates().contains(&"force"));
    }

    #[test]
    fn missing_and_bad_choice() {
        let e = run(json!({"force": true})).expect_err("missing");
        assert_eq!(e.kind, ArgErrorKind::MissingParam { name: "path" });
        let e = run(json!({"path": "/x", "state": "directry"})).expect_err("choice");
        assert_eq!(e.path, vec!["state"]);
        assert_eq!(e.misspelt(), Some("directry"));
        assert_eq!(
            e.to_string(),
            "parameter `state`: value `directry` is not one of: file, directory"
        );
        let e = run(json!({"path": "/x", "force": "maybe"})).expect_err("bool");
        assert_eq!(
            e.to_string(),
            "parameter `force`: expected a boolean (yes/no, true/false), found string \"maybe\""
        );
    }

    #[test]
    fn templates_are_wildcards_at_compile_time_only() {
        let args = json!({"path": "{{ p }}", "force": "{{ f }}", "state": "{{ s }}", "port": "{{ n }}", "names": "{{ l }}"});
        from_args::<Params>(&args, ArgMode::Compile).expect("compiles");
        assert!(from_args::<Params>(&args, ArgMode::Run).is_err());
        let e = from_args::<Params>(
            &json!({"path": "{{ p }}", "port": "many"}),
            ArgMode::Compile,
        )
        .expect_err("literal");
        assert_eq!(e.path, vec!["port"]);
    }
}
