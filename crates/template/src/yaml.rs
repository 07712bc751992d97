//! YAML for the `to_yaml`/`to_nice_yaml` and `from_yaml` filters, matching PyYAML as Ansible uses it.
//!
//! The emitter is a port of the parts of PyYAML's `Emitter` that safe-dumped plain data reaches
//! (no anchors, tags or block scalars), so quoting, flow/block choice and line folding at the
//! width come out byte-for-byte as Ansible writes them. The loader resolves plain scalars with
//! PyYAML's YAML 1.1 rules (`yes` is a boolean, `0755` octal) on `saphyr-parser` events.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value as Json};

use crate::pyfmt::float_repr;

/// Options of `yaml.dump` that Ansible's filters pass through.
#[derive(Debug, Clone)]
pub struct DumpOptions {
    pub indent: usize,
    pub width: usize,
    /// `None`: collections holding only scalars are written in flow style (`to_yaml`);
    /// `Some(false)`: block style throughout (`to_nice_yaml`); `Some(true)`: flow throughout.
    pub default_flow_style: Option<bool>,
    pub sort_keys: bool,
    pub explicit_start: bool,
}

impl Default for DumpOptions {
    fn default() -> Self {
        DumpOptions {
            indent: 2,
            width: 80,
            default_flow_style: None,
            sort_keys: true,
            explicit_start: false,
        }
    }
}

/// A represented node, as PyYAML's representer builds it.
enum Node {
    /// `plain_implicit`: the text reads back as the same type when written plain.
    Scalar {
        text: String,
        plain_implicit: bool,
    },
    Seq {
        items: Vec<Node>,
        flow: bool,
    },
    Map {
        pairs: Vec<(Node, Node)>,
        flow: bool,
    },
}

fn represent(value: &Json, opts: &DumpOptions) -> Node {
    match value {
        Json::Null => scalar("null", true),
        Json::Bool(b) => scalar(if *b { "true" } else { "false" }, true),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                scalar(&i.to_string(), true)
            } else if let Some(u) = n.as_u64() {
                scalar(&u.to_string(), true)
            } else {
                scalar(&float_text(n.as_f64().unwrap_or(f64::NAN)), true)
            }
        }
        Json::String(s) => Node::Scalar {
            text: s.clone(),
            plain_implicit: !resolves_to_non_string(s),
        },
        Json::Array(items) => {
            let items: Vec<Node> = items.iter().map(|v| represent(v, opts)).collect();
            let best = items.iter().all(|n| matches!(n, Node::Scalar { .. }));
            Node::Seq {
                flow: opts.default_flow_style.unwrap_or(best),
                items,
            }
        }
        Json::Object(map) => {
            let mut entries: Vec<(&String, &Json)> = map.iter().collect();
            if opts.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            let pairs: Vec<(Node, Node)> = entries
                .into_iter()
                .map(|(k, v)| {
                    (
                        represent(&Json::String(k.clone()), opts),
                        represent(v, opts),
                    )
                })
                .collect();
            let best = pairs.iter().all(|(_, v)| matches!(v, Node::Scalar { .. }));
            Node::Map {
                flow: opts.default_flow_style.unwrap_or(best),
                pairs,
            }
        }
    }
}

fn scalar(text: &str, plain_implicit: bool) -> Node {
    Node::Scalar {
        text: text.to_string(),
        plain_implicit,
    }
}

/// PyYAML's float representation: `repr()` lowercased, `.0` forced before an exponent.
fn float_text(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    let text = float_repr(f).to_lowercase();
    if !text.contains('.') && text.contains('e') {
        text.replacen('e', ".0e", 1)
    } else {
        text
    }
}

struct Resolvers {
    bool_re: Option<Regex>,
    float_re: Option<Regex>,
    int_re: Option<Regex>,
    null_re: Option<Regex>,
    timestamp_re: Option<Regex>,
}

fn matches(re: &Option<Regex>, s: &str) -> bool {
    re.as_ref().is_some_and(|re| re.is_match(s))
}

fn resolvers() -> &'static Resolvers {
    static RESOLVERS: OnceLock<Resolvers> = OnceLock::new();
    RESOLVERS.get_or_init(|| {
        // The patterns are constants; `ok()` only spares an unwrap.
        let build = |pattern: &str| Regex::new(pattern).ok();
        Resolvers {
            bool_re: build(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"),
            float_re: build(
                r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
            ),
            int_re: build(
                r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
            ),
            null_re: build(r"^(?:~|null|Null|NULL|)$"),
            timestamp_re: build(
                r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
            ),
        }
    })
}

/// Whether PyYAML's implicit resolvers would read `s`, written plain, as something other than a string.
fn resolves_to_non_string(s: &str) -> bool {
    let r = resolvers();
    s == "<<"
        || s == "="
        || matches(&r.null_re, s)
        || matches(&r.bool_re, s)
        || matches(&r.int_re, s)
        || matches(&r.float_re, s)
        || matches(&r.timestamp_re, s)
}

/// Serializes `value` as `yaml.dump` with Ansible's dumper does.
pub fn dump(value: &Json, opts: &DumpOptions) -> String {
    let node = represent(value, opts);
    let mut e = Emitter::new(opts);
    if opts.explicit_start {
        e.write_indicator("---", true, false, false);
    }
    e.node(&node, Ctx::ROOT);
    // expect_document_end. PyYAML's pure-Python emitter would add `...` after a plain root
    // scalar; libyaml (which Ansible's dumper uses when available, as in pip wheels) does not.
    e.write_indent();
    e.out
}

/// The node's position, as PyYAML's `expect_node` flags record it.
#[derive(Clone, Copy, Default)]
struct Ctx {
    mapping: bool,
    simple_key: bool,
}

impl Ctx {
    const ROOT: Ctx = Ctx {
        mapping: false,
        simple_key: false,
    };
    const SEQ: Ctx = Ctx::ROOT;
    const MAP: Ctx = Ctx {
        mapping: true,
        simple_key: false,
    };
    const KEY: Ctx = Ctx {
        mapping: true,
        simple_key: true,
    };
}

struct Analysis {
    empty: bool,
    multiline: bool,
    allow_flow_plain: bool,
    allow_block_plain: bool,
    allow_single_quoted: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_ws_or_end(c: Option<&char>) -> bool {
    match c {
        None => true,
        Some(c) => matches!(c, '\0' | ' ' | '\t' | '\r') || is_break(*c),
    }
}

fn analyze(text: &str) -> Analysis {
    if text.is_empty() {
        return Analysis {
            empty: true,
            multiline: false,
            allow_flow_plain: false,
            allow_block_plain: true,
            allow_single_quoted: true,
        };
    }
    let chars: Vec<char> = text.chars().collect();
    let mut block_indicators = false;
    let mut flow_indicators = false;
    let mut line_breaks = false;
    let mut special_characters = false;
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    if text.starts_with("---") || text.starts_with("...") {
        block_indicators = true;
        flow_indicators = true;
    }
    let mut preceded_by_whitespace = true;
    let mut followed_by_whitespace = chars.len() == 1 || is_ws_or_end(chars.get(1));
    let (mut previous_space, mut previous_break) = (false, false);
    let last = chars.len() - 1;
    for (index, &ch) in chars.iter().enumerate() {
        if index == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(ch) {
                flow_indicators = true;
                block_indicators = true;
            }
            if ch == '?' || ch == ':' {
                flow_indicators = true;
                if followed_by_whitespace {
                    block_indicators = true;
                }
            }
            if ch == '-' && followed_by_whitespace {
                flow_indicators = true;
                block_indicators = true;
            }
        } else {
            if ",?[]{}".contains(ch) {
                flow_indicators = true;
            }
            if ch == ':' {
                flow_indicators = true;
                if followed_by_whitespace {
                    block_indicators = true;
                }
            }
            if ch == '#' && preceded_by_whitespace {
                flow_indicators = true;
                block_indicators = true;
            }
        }
        if is_break(ch) {
            line_breaks = true;
        }
        if !(ch == '\n' || (' '..='~').contains(&ch)) {
            let unicode = (ch == '\u{85}'
                || ('\u{A0}'..='\u{D7FF}').contains(&ch)
                || ('\u{E000}'..='\u{FFFD}').contains(&ch)
                || ('\u{10000}'..'\u{10FFFF}').contains(&ch))
                && ch != '\u{FEFF}';
            if !unicode {
                special_characters = true;
            }
        }
        if ch == ' ' {
            if index == 0 {
                leading_space = true;
            }
            if index == last {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(ch) {
            if index == 0 {
                leading_break = true;
            }
            if index == last {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_ws_or_end(Some(&ch));
        followed_by_whitespace = index + 2 >= chars.len() || is_ws_or_end(chars.get(index + 2));
    }
    let mut a = Analysis {
        empty: false,
        multiline: line_breaks,
        allow_flow_plain: true,
        allow_block_plain: true,
        allow_single_quoted: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
    }
    if break_space {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
        a.allow_single_quoted = false;
    }
    if space_break || special_characters {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
        a.allow_single_quoted = false;
    }
    if line_breaks {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
    }
    if flow_indicators {
        a.allow_flow_plain = false;
    }
    if block_indicators {
        a.allow_block_plain = false;
    }
    a
}

struct Emitter {
    out: String,
    best_indent: usize,
    best_width: usize,
    indent: Option<usize>,
    indents: Vec<Option<usize>>,
    flow_level: usize,
    column: usize,
    whitespace: bool,
    indention: bool,
}

impl Emitter {
    fn new(opts: &DumpOptions) -> Emitter {
        let best_indent = if opts.indent > 1 && opts.indent < 10 {
            opts.indent
        } else {
            2
        };
        let best_width = if opts.width > best_indent * 2 {
            opts.width
        } else {
            80
        };
        Emitter {
            out: String::new(),
            best_indent,
            best_width,
            indent: None,
            indents: Vec::new(),
            flow_level: 0,
            column: 0,
            whitespace: true,
            indention: true,
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        match self.indent {
            None => self.indent = Some(if flow { self.best_indent } else { 0 }),
            Some(i) if !indentless => self.indent = Some(i + self.best_indent),
            Some(_) => {}
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().flatten();
    }

    fn node(&mut self, node: &Node, ctx: Ctx) {
        match node {
            Node::Scalar {
                text,
                plain_implicit,
            } => {
                self.increase_indent(true, false);
                self.scalar(text, *plain_implicit, ctx);
                self.pop_indent();
            }
            Node::Seq { items, flow } => {
                if self.flow_level > 0 || *flow || items.is_empty() {
                    self.flow_sequence(items);
                } else {
                    self.block_sequence(items, ctx);
                }
            }
            Node::Map { pairs, flow } => {
                if self.flow_level > 0 || *flow || pairs.is_empty() {
                    self.flow_mapping(pairs);
                } else {
                    self.block_mapping(pairs);
                }
            }
        }
    }

    fn flow_sequence(&mut self, items: &[Node]) {
        self.write_indicator("[", true, true, false);
        self.flow_level += 1;
        self.increase_indent(true, false);
        for (idx, item) in items.iter().enumerate() {
            if idx > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > self.best_width {
                self.write_indent();
            }
            self.node(item, Ctx::SEQ);
        }
        self.pop_indent();
        self.flow_level -= 1;
        self.write_indicator("]", false, false, false);
    }

    fn flow_mapping(&mut self, pairs: &[(Node, Node)]) {
        self.write_indicator("{", true, true, false);
        self.flow_level += 1;
        self.increase_indent(true, false);
        for (idx, (key, value)) in pairs.iter().enumerate() {
            if idx > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > self.best_width {
                self.write_indent();
            }
            if check_simple_key(key) {
                self.node(key, Ctx::KEY);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, false);
                self.node(key, Ctx::MAP);
                if self.column > self.best_width {
                    self.write_indent();
                }
                self.write_indicator(":", true, false, false);
            }
            self.node(value, Ctx::MAP);
        }
        self.pop_indent();
        self.flow_level -= 1;
        self.write_indicator("}", false, false, false);
    }

    fn block_sequence(&mut self, items: &[Node], ctx: Ctx) {
        let indentless = ctx.mapping && !self.indention;
        self.increase_indent(false, indentless);
        for item in items {
            self.write_indent();
            self.write_indicator("-", true, false, true);
            self.node(item, Ctx::SEQ);
        }
        self.pop_indent();
    }

    fn block_mapping(&mut self, pairs: &[(Node, Node)]) {
        self.increase_indent(false, false);
        for (key, value) in pairs {
            self.write_indent();
            if check_simple_key(key) {
                self.node(key, Ctx::KEY);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.node(key, Ctx::MAP);
                self.write_indent();
                self.write_indicator(":", true, false, true);
            }
            self.node(value, Ctx::MAP);
        }
        self.pop_indent();
    }

    fn scalar(&mut self, text: &str, plain_implicit: bool, ctx: Ctx) {
        let a = analyze(text);
        let split = !ctx.simple_key;
        let plain_ok = plain_implicit
            && !(ctx.simple_key && (a.empty || a.multiline))
            && ((self.flow_level > 0 && a.allow_flow_plain)
                || (self.flow_level == 0 && a.allow_block_plain));
        if plain_ok {
            self.write_plain(text, split);
        } else if a.allow_single_quoted && !(ctx.simple_key && a.multiline) {
            self.write_single_quoted(text, split);
        } else {
            self.write_double_quoted(text, split);
        }
    }

    fn write_raw(&mut self, data: &str) {
        self.column += data.chars().count();
        self.out.push_str(data);
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        whitespace: bool,
        indention: bool,
    ) {
        if !self.whitespace && need_whitespace {
            self.out.push(' ');
            self.column += 1;
        }
        self.write_raw(indicator);
        self.whitespace = whitespace;
        self.indention = self.indention && indention;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.write_line_break(None);
        }
        if self.column < indent {
            self.whitespace = true;
            let pad = " ".repeat(indent - self.column);
            self.out.push_str(&pad);
            self.column = indent;
        }
    }

    fn write_line_break(&mut self, data: Option<char>) {
        self.whitespace = true;
        self.indention = true;
        self.column = 0;
        self.out.push(data.unwrap_or('\n'));
    }

    fn write_breaks(&mut self, breaks: &[char]) {
        if breaks.first() == Some(&'\n') {
            self.write_line_break(None);
        }
        for &br in breaks {
            if br == '\n' {
                self.write_line_break(None);
            } else {
                self.write_line_break(Some(br));
            }
        }
    }

    fn write_plain(&mut self, text: &str, split: bool) {
        if text.is_empty() {
            return;
        }
        if !self.whitespace {
            self.write_raw(" ");
        }
        self.whitespace = false;
        self.indention = false;
        let chars: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        let mut start = 0;
        for end in 0..=chars.len() {
            let ch = chars.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end && self.column > self.best_width && split {
                        self.write_indent();
                        self.whitespace = false;
                        self.indention = false;
                    } else {
                        let data: String = chars[start..end].iter().collect();
                        self.write_raw(&data);
                    }
                    start = end;
                }
            } else if breaks {
                if !ch.is_some_and(is_break) {
                    self.write_breaks(&chars[start..end]);
                    self.write_indent();
                    self.whitespace = false;
                    self.indention = false;
                    start = end;
                }
            } else if ch.is_none_or(|c| c == ' ' || is_break(c)) {
                let data: String = chars[start..end].iter().collect();
                self.write_raw(&data);
                start = end;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = is_break(c);
            }
        }
    }

    fn write_single_quoted(&mut self, text: &str, split: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        let mut start = 0;
        for end in 0..=chars.len() {
            let ch = chars.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end
                        && self.column > self.best_width
                        && split
                        && start != 0
                        && end != chars.len()
                    {
                        self.write_indent();
                    } else {
                        let data: String = chars[start..end].iter().collect();
                        self.write_raw(&data);
                    }
                    start = end;
                }
            } else if breaks {
                if !ch.is_some_and(is_break) {
                    self.write_breaks(&chars[start..end]);
                    self.write_indent();
                    start = end;
                }
            } else if ch.is_none_or(|c| c == ' ' || c == '\'' || is_break(c)) && start < end {
                let data: String = chars[start..end].iter().collect();
                self.write_raw(&data);
                start = end;
            }
            if ch == Some('\'') {
                self.write_raw("''");
                start = end + 1;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = is_break(c);
            }
        }
        self.write_indicator("'", false, false, false);
    }

    fn write_double_quoted(&mut self, text: &str, split: bool) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let mut start = 0;
        let mut end = 0;
        while end <= chars.len() {
            let ch = chars.get(end).copied();
            let needs_escape = match ch {
                None => true,
                Some(c) => {
                    matches!(
                        c,
                        '"' | '\\' | '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}'
                    ) || !((' '..='~').contains(&c)
                        || ('\u{A0}'..='\u{D7FF}').contains(&c)
                        || ('\u{E000}'..='\u{FFFD}').contains(&c))
                }
            };
            if needs_escape {
                if start < end {
                    let data: String = chars[start..end].iter().collect();
                    self.write_raw(&data);
                    start = end;
                }
                if let Some(c) = ch {
                    let data = match escape_replacement(c) {
                        Some(r) => format!("\\{r}"),
                        None if (c as u32) <= 0xFF => format!("\\x{:02X}", c as u32),
                        None if (c as u32) <= 0xFFFF => format!("\\u{:04X}", c as u32),
                        None => format!("\\U{:08X}", c as u32),
                    };
                    self.write_raw(&data);
                    start = end + 1;
                }
            }
            if end > 0
                && end + 1 < chars.len()
                && (ch == Some(' ') || start >= end)
                && self.column + end.saturating_sub(start) > self.best_width
                && split
            {
                let mut data: String = chars[start.min(end)..end].iter().collect();
                data.push('\\');
                if start < end {
                    start = end;
                }
                self.write_raw(&data);
                self.write_indent();
                self.whitespace = false;
                self.indention = false;
                if chars.get(start) == Some(&' ') {
                    self.write_raw("\\");
                }
            }
            end += 1;
        }
        self.write_indicator("\"", false, false, false);
    }
}

fn escape_replacement(c: char) -> Option<char> {
    Some(match c {
        '\0' => '0',
        '\u{7}' => 'a',
        '\u{8}' => 'b',
        '\t' => 't',
        '\n' => 'n',
        '\u{B}' => 'v',
        '\u{C}' => 'f',
        '\r' => 'r',
        '\u{1B}' => 'e',
        '"' => '"',
        '\\' => '\\',
        '\u{85}' => 'N',
        '\u{A0}' => '_',
        '\u{2028}' => 'L',
        '\u{2029}' => 'P',
        _ => return None,
    })
}

fn check_simple_key(node: &Node) -> bool {
    match node {
        // libyaml's rule (PyYAML's pure-Python emitter differs): an empty key is fine, and
        // the limit is 128 bytes inclusive.
        Node::Scalar { text, .. } => text.len() <= 128 && !analyze(text).multiline,
        Node::Seq { items, .. } => items.is_empty(),
        Node::Map { pairs, .. } => pairs.is_empty(),
    }
}

/// A `from_yaml` failure.
#[derive(Debug, Clone)]
pub struct LoadError(pub String);

/// Loads one YAML document with PyYAML's YAML 1.1 scalar resolution. Empty input is `null`.
pub fn load(text: &str) -> Result<Json, LoadError> {
    let mut loader = Loader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
    };
    let mut documents = 0;
    let mut result = Json::Null;
    loop {
        let (event, _) = loader.next()?;
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(LoadError(
                        "expected a single document in the stream, but found another document"
                            .into(),
                    ));
                }
                let (first, _) = loader.next()?;
                result = loader.node(first)?;
            }
            _ => {}
        }
    }
    Ok(result)
}

struct Loader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Json>,
}

impl<'a> Loader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, saphyr_parser::Span), LoadError> {
        match self.parser.next_event() {
            Some(Ok(item)) => Ok(item),
            Some(Err(e)) => Err(LoadError(e.to_string())),
            None => Ok((Event::StreamEnd, saphyr_parser::Span::default())),
        }
    }

    fn node(&mut self, event: Event<'a>) -> Result<Json, LoadError> {
        match event {
            Event::Alias(id) => self
                .anchors
                .get(&id)
                .cloned()
                .ok_or_else(|| LoadError(format!("found undefined alias {id}"))),
            Event::Scalar(text, style, anchor, tag) => {
                let value = resolve_scalar(&text, style, tag.as_deref());
                self.remember(anchor, &value);
                Ok(value)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (event, _) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event)?);
                }
                let value = Json::Array(items);
                self.remember(anchor, &value);
                Ok(value)
            }
            Event::MappingStart(anchor, _) => {
                let mut map = Map::new();
                let mut merged: Vec<Json> = Vec::new();
                loop {
                    let (event, _) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let is_merge = matches!(&event, Event::Scalar(t, ScalarStyle::Plain, _, None) if t == "<<");
                    let key = self.node(event)?;
                    let (value_event, _) = self.next()?;
                    let value = self.node(value_event)?;
                    if is_merge {
                        merged.push(value);
                        continue;
                    }
                    map.insert(key_string(&key), value);
                }
                // Merge keys fill in what the mapping itself does not set; earlier sources win.
                for source in merged {
                    let sources = match source {
                        Json::Array(items) => items,
                        other => vec![other],
                    };
                    for source in sources {
                        if let Json::Object(entries) = source {
                            for (k, v) in entries {
                                map.entry(k).or_insert(v);
                            }
                        }
                    }
                }
                let value = Json::Object(map);
                self.remember(anchor, &value);
                Ok(value)
            }
            other => Err(LoadError(format!("unexpected YAML event {other:?}"))),
        }
    }

    fn remember(&mut self, anchor: usize, value: &Json) {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
    }
}

fn key_string(key: &Json) -> String {
    match key {
        Json::String(s) => s.clone(),
        Json::Null => "None".into(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&saphyr_parser::Tag>) -> Json {
    if let Some(tag) = tag {
        if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
            match tag.suffix.as_str() {
                "str" => return Json::String(text.to_string()),
                "int" => return parse_int(text).unwrap_or_else(|| Json::String(text.into())),
                "float" => return parse_float(text).unwrap_or_else(|| Json::String(text.into())),
                "bool" => return parse_bool(text).unwrap_or_else(|| Json::String(text.into())),
                "null" => return Json::Null,
                _ => {}
            }
        }
        return Json::String(text.to_string());
    }
    if style != ScalarStyle::Plain {
        return Json::String(text.to_string());
    }
    let r = resolvers();
    if matches(&r.null_re, text) {
        return Json::Null;
    }
    if matches(&r.bool_re, text) {
        if let Some(b) = parse_bool(text) {
            return b;
        }
    }
    if matches(&r.int_re, text) {
        if let Some(i) = parse_int(text) {
            return i;
        }
    }
    if matches(&r.float_re, text) {
        if let Some(f) = parse_float(text) {
            return f;
        }
    }
    Json::String(text.to_string())
}

fn parse_bool(text: &str) -> Option<Json> {
    match text.to_lowercase().as_str() {
        "yes" | "true" | "on" => Some(Json::Bool(true)),
        "no" | "false" | "off" => Some(Json::Bool(false)),
        _ => None,
    }
}

/// PyYAML's `construct_yaml_int`: underscores ignored, `0b`, `0x`, leading-zero octal, base 60.
fn parse_int(text: &str) -> Option<Json> {
    let cleaned: String = text.chars().filter(|c| *c != '_').collect();
    let (negative, digits) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    let magnitude: i128 = if digits == "0" {
        0
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()?
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix('0') {
        i128::from_str_radix(oct, 8).ok()?
    } else if digits.contains(':') {
        let mut value: i128 = 0;
        for part in digits.split(':') {
            value = value
                .checked_mul(60)?
                .checked_add(part.parse::<i128>().ok()?)?;
        }
        value
    } else {
        digits.parse::<i128>().ok()?
    };
    let value = if negative { -magnitude } else { magnitude };
    if let Ok(i) = i64::try_from(value) {
        Some(Json::Number(Number::from(i)))
    } else if let Ok(u) = u64::try_from(value) {
        Some(Json::Number(Number::from(u)))
    } else {
        Number::from_f64(value as f64).map(Json::Number)
    }
}

fn parse_float(text: &str) -> Option<Json> {
    let cleaned: String = text
        .chars()
        .filter(|c| *c != '_')
        .collect::<String>()
        .to_lowercase();
    let (sign, body) = match cleaned.as_bytes().first() {
        Some(b'-') => (-1.0, &cleaned[1..]),
        Some(b'+') => (1.0, &cleaned[1..]),
        _ => (1.0, cleaned.as_str()),
    };
    // JSON has no NaN or infinity; such values stay strings, like other non-JSON data.
    if body == ".inf" || body == ".nan" {
        return None;
    }
    let value = if body.contains(':') {
        let mut value = 0.0;
        for part in body.split(':') {
            value = value * 60.0 + part.parse::<f64>().ok()?;
        }
        value
    } else {
        body.parse::<f64>().ok()?
    };
    Number::from_f64(sign * value).map(Json::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nice(v: &Json) -> String {
        dump(
            v,
            &DumpOptions {
                indent: 4,
                default_flow_style: Some(false),
                ..DumpOptions::default()
            },
        )
    }

    #[test]
    fn terse_yaml_uses_flow_for_scalar_leaves() {
        let v = json!({"b": [1, 2], "a": {"x": "yes", "y": null}, "c": "plain text"});
        assert_eq!(
            dump(&v, &DumpOptions::default()),
            "a: {x: 'yes', y: null}\nb: [1, 2]\nc: plain text\n"
        );
        assert_eq!(dump(&json!("abc"), &DumpOptions::default()), "abc\n");
        assert_eq!(dump(&json!([]), &DumpOptions::default()), "[]\n");
    }

    #[test]
    fn nice_yaml_is_block_style() {
        let v = json!({"users": [{"name": "a", "groups": ["x", "y"]}], "port": 8080, "e": {}});
        assert_eq!(
            nice(&v),
            "e: {}\nport: 8080\nusers:\n-   groups:\n    - x\n    - y\n    name: a\n"
        );
    }

    #[test]
    fn scalars_are_quoted_like_pyyaml() {
        assert_eq!(nice(&json!({"k": ""})), "k: ''\n");
        assert_eq!(nice(&json!({"k": "0755"})), "k: '0755'\n");
        assert_eq!(nice(&json!({"k": "a: b"})), "k: 'a: b'\n");
        assert_eq!(nice(&json!({"k": "it's"})), "k: it's\n");
        assert_eq!(nice(&json!({"k": "- x"})), "k: '- x'\n");
        assert_eq!(nice(&json!({"k": "a\nb"})), "k: 'a\n\n    b'\n");
        assert_eq!(nice(&json!({"k": "tab\there"})), "k: \"tab\\there\"\n");
        assert_eq!(nice(&json!({"k": 1.0e20})), "k: 1.0e+20\n");
        assert_eq!(nice(&json!({"k": "é"})), "k: é\n");
    }

    #[test]
    fn long_plain_strings_fold_at_width() {
        let long = "word ".repeat(20).trim_end().to_string();
        assert_eq!(
            nice(&json!({ "k": long })),
            "k: word word word word word word word word word word word word word word word word\n    word word word word\n"
        );
    }

    #[test]
    fn loads_yaml_1_1_scalars() {
        let v = load("a: yes\nb: 0755\nc: '0755'\nd: ~\ne: 1:30\nf: [1.5, off, y]\nbase: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n");
        assert_eq!(
            v.ok(),
            Some(json!({
                "a": true, "b": 493, "c": "0755", "d": null, "e": 90,
                "f": [1.5, false, "y"], "base": {"x": 1}, "m": {"y": 2, "x": 1}
            }))
        );
        assert_eq!(load("").ok(), Some(Json::Null));
        assert!(load("a: [").is_err());
    }
}
