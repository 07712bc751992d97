//! Turns saphyr-parser events into a [`Node`] tree: anchors and aliases, merge keys, duplicate
//! keys, collection tags, and the translation of parser positions into [`Span`]s.

use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError};

use crate::resolve::{self, Special, TagKind};
use crate::{Node, NodeKind, Span, YamlError, YamlWarning, MAX_ALIAS_NODES, MAX_DEPTH};

/// Whether the caller accepts a stream of documents or exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Documents {
    One,
    Many,
}

pub(crate) struct Composed {
    pub(crate) documents: Vec<Node>,
    pub(crate) warnings: Vec<YamlWarning>,
}

pub(crate) fn compose(src: &str, documents: Documents) -> Result<Composed, YamlError> {
    let mut composer = Composer {
        pos: Positions::new(src),
        stack: Vec::new(),
        anchors: HashMap::new(),
        anchor_names: HashMap::new(),
        copied: 0,
        documents: Vec::new(),
        warnings: Vec::new(),
    };
    for event in Parser::new_from_str(src) {
        let (event, span) = event.map_err(|e| composer.scan_error(&e))?;
        let start = span.start;
        match event {
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                if documents == Documents::One && !composer.documents.is_empty() {
                    return Err(YamlError::new(
                        "expected a single document in the stream, but found another document",
                        composer.pos.span(start),
                    ));
                }
                // Anchors are scoped to their document, as in PyYAML's composer.
                composer.anchors.clear();
                composer.anchor_names.clear();
            }
            Event::Scalar(value, style, anchor, tag) => {
                composer.check_anchor(anchor, start)?;
                let tag = TagKind::from_parser(tag.as_deref());
                let span = match style {
                    ScalarStyle::Literal | ScalarStyle::Folded => {
                        composer.pos.block_scalar_span(start)
                    }
                    _ => composer.pos.span(start),
                };
                let resolved = resolve::resolve_scalar(&value, style == ScalarStyle::Plain, &tag)
                    .map_err(|e| YamlError::new(e.to_string(), span))?;
                let node = match resolved.tag.as_deref() {
                    Some(tag @ (VAULT_TAG | VAULT_TAG_OLD)) => vault_scalar(tag, &value, span)?,
                    _ => Node {
                        kind: resolved.kind,
                        span,
                        tag: resolved.tag,
                    },
                };
                composer.register(anchor, &node);
                composer.push(node, resolved.special)?;
            }
            Event::SequenceStart(anchor, tag) => {
                let start = if composer.expecting_value() {
                    composer.pos.indentless_sequence_start(start)
                } else {
                    start
                };
                composer.open(anchor, tag.as_deref(), start, Collection::Seq)?;
            }
            Event::MappingStart(anchor, tag) => {
                composer.open(anchor, tag.as_deref(), start, Collection::Map)?;
            }
            Event::SequenceEnd | Event::MappingEnd => composer.close()?,
            Event::Alias(anchor) => composer.alias(anchor, start)?,
        }
    }
    Ok(Composed {
        documents: composer.documents,
        warnings: composer.warnings,
    })
}

/// Ansible's tag for an inline vaulted string, and the deprecated spelling it still accepts.
const VAULT_TAG: &str = "vault";
const VAULT_TAG_OLD: &str = "vault-encrypted";

/// A `!vault` scalar, decrypted now with the installed keyring (Ansible decrypts on first use;
/// see the crate docs). The result is a plain string: nothing downstream sees the ciphertext.
fn vault_scalar(tag: &str, ciphertext: &str, span: Span) -> Result<Node, YamlError> {
    match tend_vault::decrypt_inline(ciphertext) {
        Ok(plaintext) => Ok(Node::new(NodeKind::Str(plaintext), span)),
        Err(e) => Err(YamlError::vault(
            format!("cannot decrypt this '!{tag}' value: {e}"),
            span,
        )),
    }
}

/// Maps saphyr's character-based markers to our byte offsets and 1-based columns.
struct Positions<'a> {
    src: &'a str,
    /// Byte offset of every character, for non-ASCII sources only: for ASCII the character
    /// index already is the byte offset.
    char_offsets: Option<Vec<usize>>,
}

impl<'a> Positions<'a> {
    fn new(src: &'a str) -> Positions<'a> {
        let char_offsets = (!src.is_ascii()).then(|| src.char_indices().map(|(i, _)| i).collect());
        Positions { src, char_offsets }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.char_offsets {
            None => char_index.min(self.src.len()),
            Some(offsets) => offsets.get(char_index).copied().unwrap_or(self.src.len()),
        }
    }

    fn span(&self, marker: Marker) -> Span {
        Span {
            line: u32::try_from(marker.line()).unwrap_or(u32::MAX),
            col: u32::try_from(marker.col().saturating_add(1)).unwrap_or(u32::MAX),
            offset: self.byte(marker.index()),
        }
    }

    /// saphyr starts a block scalar at its first content line; PyYAML, and a reader, expect
    /// the `|` or `>` of its header, which is on the last non-blank line before the content.
    fn block_scalar_span(&self, marker: Marker) -> Span {
        let span = self.span(marker);
        let Some(before) = self.src.get(..span.offset) else {
            return span;
        };
        if self
            .src
            .get(span.offset..)
            .is_some_and(|at| at.starts_with(['&', '!']))
        {
            // With properties saphyr already starts at them, on the header line.
            return span;
        }
        let mut line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
        let mut line = span.line;
        while line_start > 0 {
            let header_end = line_start - 1;
            let header_start = before[..header_end].rfind('\n').map_or(0, |nl| nl + 1);
            line = line.saturating_sub(1);
            let text = before[header_start..header_end].trim_end_matches('\r');
            if text.trim().is_empty() {
                line_start = header_start;
                continue;
            }
            let Some(at) = header_indicator(text) else {
                return span;
            };
            let columns = text[..at].trim_start_matches('\u{feff}').chars().count();
            return Span {
                line,
                col: u32::try_from(columns + 1).unwrap_or(u32::MAX),
                offset: header_start + at,
            };
        }
        span
    }

    /// saphyr starts an indentless block sequence (`key:` followed by `- item` at the key's
    /// indentation) after its first `- `; PyYAML, and a reader, expect the dash. Only a
    /// mapping value can be an indentless sequence, and any other sequence that is a mapping
    /// value starts on its own line or after the key, never right after a dash.
    fn indentless_sequence_start(&self, marker: Marker) -> Marker {
        let byte = self.byte(marker.index());
        let Some(before) = self.src.get(..byte) else {
            return marker;
        };
        let trimmed = before.trim_end_matches([' ', '\t']);
        let gap = before.len() - trimmed.len();
        if gap == 0 || !trimmed.ends_with('-') || marker.col() <= gap {
            return marker;
        }
        // The gap is ASCII, so characters and bytes agree.
        Marker::new(
            marker.index() - gap - 1,
            marker.line(),
            marker.col() - gap - 1,
        )
    }

    /// The name after `sigil` (`&` or `*`) at a node's start, skipping a tag that precedes an
    /// anchor. saphyr only reports anchor ids, but messages and PyYAML's duplicate-anchor
    /// check need the name.
    fn property_name(&self, marker: Marker, sigil: char) -> Option<&'a str> {
        let mut rest = self.src.get(self.byte(marker.index())..)?;
        loop {
            if let Some(after) = rest.strip_prefix(sigil) {
                let end = after
                    .find(|c: char| c.is_whitespace() || ",[]{}".contains(c))
                    .unwrap_or(after.len());
                return Some(&after[..end]).filter(|name| !name.is_empty());
            }
            if !rest.starts_with('!') {
                return None;
            }
            rest = rest.trim_start_matches(|c: char| !c.is_whitespace());
            rest = skip_separation(rest);
        }
    }
}

/// The byte position of the `|` or `>` that opens a block scalar on a header line: the first one
/// that starts a word and is followed only by indicators (`1`-`9`, `+`, `-`) and a comment.
fn header_indicator(line: &str) -> Option<usize> {
    line.char_indices().find_map(|(at, c)| {
        if c != '|' && c != '>' {
            return None;
        }
        if at > 0 && !line[..at].ends_with([' ', '\t']) {
            return None;
        }
        let indicators =
            line[at + 1..].trim_start_matches(|c: char| c.is_ascii_digit() || c == '+' || c == '-');
        let tail = indicators.trim_start_matches([' ', '\t']);
        // A comment needs white space before its `#`.
        let comment = tail.starts_with('#') && tail.len() < indicators.len();
        (tail.is_empty() || comment).then_some(at)
    })
}

/// Skips whitespace and comments between two node properties.
fn skip_separation(mut rest: &str) -> &str {
    loop {
        rest = rest.trim_start();
        match rest.strip_prefix('#') {
            Some(comment) => rest = comment.find('\n').map_or("", |nl| &comment[nl..]),
            None => return rest,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collection {
    Seq,
    Map,
}

/// A key/value pair as written, before merge keys and duplicates are resolved.
struct Pair {
    key: Node,
    value: Node,
    merge: bool,
}

enum Body {
    Seq(Vec<Node>),
    Map {
        pairs: Vec<Pair>,
        /// The key waiting for its value, and whether it is a merge key.
        key: Option<(Node, bool)>,
    },
}

struct Frame {
    span: Span,
    tag: Option<String>,
    anchor: usize,
    body: Body,
}

/// An anchored node and its size, so alias expansion can be bounded before copying.
struct Anchored {
    node: Node,
    size: usize,
}

struct Composer<'a> {
    pos: Positions<'a>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    /// Anchor names of the current document with their first position.
    anchor_names: HashMap<&'a str, Span>,
    /// Nodes copied so far by alias expansion.
    copied: usize,
    documents: Vec<Node>,
    warnings: Vec<YamlWarning>,
}

impl<'a> Composer<'a> {
    fn scan_error(&self, error: &ScanError) -> YamlError {
        let marker = *error.marker();
        let span = self.pos.span(marker);
        // saphyr rejects an unknown alias without naming it; the name is in the source.
        if error.info().contains("unknown anchor") {
            if let Some(name) = self.pos.property_name(marker, '*') {
                return YamlError::new(format!("found undefined alias '{name}'"), span);
            }
        }
        YamlError::new(error.info(), span)
    }

    /// PyYAML refuses a second anchor of the same name in one document.
    fn check_anchor(&mut self, anchor: usize, start: Marker) -> Result<(), YamlError> {
        if anchor == 0 {
            return Ok(());
        }
        let Some(name) = self.pos.property_name(start, '&') else {
            return Ok(());
        };
        let span = self.pos.span(start);
        if let Some(first) = self.anchor_names.insert(name, span) {
            return Err(YamlError::new(
                format!(
                    "found duplicate anchor '{name}'; first occurrence at line {} column {}",
                    first.line, first.col
                ),
                span,
            ));
        }
        Ok(())
    }

    /// Whether the next node is the value of a mapping pair.
    fn expecting_value(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame {
                body: Body::Map { key: Some(_), .. },
                ..
            })
        )
    }

    fn register(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.insert(
                anchor,
                Anchored {
                    node: node.clone(),
                    size: count_nodes(node),
                },
            );
        }
    }

    fn open(
        &mut self,
        anchor: usize,
        tag: Option<&saphyr_parser::Tag>,
        start: Marker,
        collection: Collection,
    ) -> Result<(), YamlError> {
        let span = self.pos.span(start);
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError::new(
                format!("collections are nested deeper than {MAX_DEPTH} levels"),
                span,
            ));
        }
        self.check_anchor(anchor, start)?;
        let tag = collection_tag(TagKind::from_parser(tag), collection)
            .map_err(|message| YamlError::new(message, span))?;
        if let Some(tag @ (VAULT_TAG | VAULT_TAG_OLD)) = tag.as_deref() {
            return Err(YamlError::new(
                format!("the '!{tag}' tag requires a string value"),
                span,
            ));
        }
        let body = match collection {
            Collection::Seq => Body::Seq(Vec::new()),
            Collection::Map => Body::Map {
                pairs: Vec::new(),
                key: None,
            },
        };
        self.stack.push(Frame {
            span,
            tag,
            anchor,
            body,
        });
        Ok(())
    }

    fn close(&mut self) -> Result<(), YamlError> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        let kind = match frame.body {
            Body::Seq(items) => NodeKind::Seq(items),
            Body::Map { pairs, key } => {
                // saphyr always completes a pair before ending a mapping; a dangling key
                // would be a parser bug, and a null value is what PyYAML would give it.
                let mut pairs = pairs;
                if let Some((key, merge)) = key {
                    let value = Node::new(NodeKind::Null, key.span);
                    pairs.push(Pair { key, value, merge });
                }
                NodeKind::Map(self.flatten(frame.span, pairs)?)
            }
        };
        let node = Node {
            kind,
            span: frame.span,
            tag: frame.tag,
        };
        self.register(frame.anchor, &node);
        self.push(node, None)
    }

    fn alias(&mut self, anchor: usize, start: Marker) -> Result<(), YamlError> {
        let span = self.pos.span(start);
        let name = self.pos.property_name(start, '*').unwrap_or("?");
        let Some(anchored) = self.anchors.get(&anchor) else {
            // saphyr knows the name either from a collection still being built or, since its
            // event iterator keeps anchors across documents, from an earlier document.
            let message = if self.stack.iter().any(|frame| frame.anchor == anchor) {
                format!("alias '{name}' refers to a collection that contains it; recursive structures are not supported")
            } else {
                format!("found undefined alias '{name}'")
            };
            return Err(YamlError::new(message, span));
        };
        self.copied = self.copied.saturating_add(anchored.size);
        if self.copied > MAX_ALIAS_NODES {
            return Err(YamlError::new(
                format!(
                    "alias '{name}' expands the document beyond {MAX_ALIAS_NODES} nodes; refusing a possible alias bomb"
                ),
                span,
            ));
        }
        let mut node = anchored.node.clone();
        node.span = span;
        self.push(node, None)
    }

    /// Hands a finished node to the collection being built, or makes it a document.
    fn push(&mut self, node: Node, special: Option<Special>) -> Result<(), YamlError> {
        let Some(frame) = self.stack.last_mut() else {
            reject_special(special, node.span)?;
            self.documents.push(node);
            return Ok(());
        };
        match &mut frame.body {
            Body::Seq(items) => {
                reject_special(special, node.span)?;
                items.push(node);
            }
            Body::Map { pairs, key } => match key.take() {
                None => *key = Some((node, special == Some(Special::Merge))),
                Some((key, merge)) => {
                    reject_special(special, node.span)?;
                    pairs.push(Pair {
                        key,
                        value: node,
                        merge,
                    });
                }
            },
        }
        Ok(())
    }

    /// PyYAML's `flatten_mapping` followed by dict construction: merged pairs go first (a
    /// merge list is applied last to first, so earlier mappings win), explicit pairs after
    /// them, and a repeated key keeps its first position and takes the last value.
    fn flatten(
        &mut self,
        map_span: Span,
        pairs: Vec<Pair>,
    ) -> Result<Vec<(Node, Node)>, YamlError> {
        let mut merged: Vec<(Node, Node)> = Vec::new();
        let mut explicit: Vec<(Node, Node)> = Vec::with_capacity(pairs.len());
        for pair in pairs {
            if pair.merge {
                merge_value(&mut merged, pair.value, map_span)?;
            } else {
                explicit.push((pair.key, pair.value));
            }
        }
        for (key, _) in &explicit {
            if matches!(key.kind, NodeKind::Seq(_) | NodeKind::Map(_)) {
                return Err(YamlError::new(
                    format!(
                        "found unhashable key ({}) in the mapping at line {} column {}",
                        key.type_name(),
                        map_span.line,
                        map_span.col
                    ),
                    key.span,
                ));
            }
        }

        let merged_len = merged.len();
        let mut out: Vec<(Node, Node)> = Vec::with_capacity(merged_len + explicit.len());
        // Whether an explicit (not merged) key has already set each slot: only a repeat among
        // explicit keys is the user's mistake that Ansible warns about.
        let mut explicit_seen: Vec<bool> = Vec::with_capacity(out.capacity());
        let mut index: HashMap<KeyId, usize> = HashMap::new();
        for (i, (key, value)) in merged.into_iter().chain(explicit).enumerate() {
            let is_explicit = i >= merged_len;
            let slot = key_id(&key).and_then(|id| match index.get(&id) {
                Some(&slot) => Some(slot),
                None => {
                    index.insert(id, out.len());
                    None
                }
            });
            match slot {
                Some(slot) => {
                    if is_explicit && explicit_seen[slot] {
                        self.warnings.push(YamlWarning {
                            message: format!(
                                "found a duplicate dict key ({}); using last defined value only",
                                crate::json::python_str(&key)
                            ),
                            span: key.span,
                        });
                    }
                    explicit_seen[slot] |= is_explicit;
                    out[slot].1 = value;
                }
                None => {
                    out.push((key, value));
                    explicit_seen.push(is_explicit);
                }
            }
        }
        Ok(out)
    }
}

/// Appends what one `<<` value contributes to the merged pairs.
fn merge_value(
    merged: &mut Vec<(Node, Node)>,
    value: Node,
    map_span: Span,
) -> Result<(), YamlError> {
    match value.kind {
        NodeKind::Map(pairs) => merged.extend(pairs),
        NodeKind::Seq(items) => {
            let mut maps = Vec::with_capacity(items.len());
            for item in items {
                match item.kind {
                    NodeKind::Map(pairs) => maps.push(pairs),
                    other => {
                        return Err(YamlError::new(
                            format!(
                                "expected a mapping for merging into the mapping at line {} column {}, but found {}",
                                map_span.line,
                                map_span.col,
                                other.type_name()
                            ),
                            item.span,
                        ))
                    }
                }
            }
            merged.extend(maps.into_iter().rev().flatten());
        }
        other => {
            return Err(YamlError::new(
                format!(
                    "expected a mapping or list of mappings for merging into the mapping at line {} column {}, but found {}",
                    map_span.line,
                    map_span.col,
                    other.type_name()
                ),
                value.span,
            ))
        }
    }
    Ok(())
}

/// PyYAML has no constructor for `<<` and `=` outside a mapping key, so loading fails there.
fn reject_special(special: Option<Special>, span: Span) -> Result<(), YamlError> {
    let message = match special {
        None => return Ok(()),
        Some(Special::Merge) => {
            "found a merge key '<<' that is not a mapping key; quote it to mean the string"
        }
        Some(Special::Value) => {
            "found a plain '=' that is not a mapping key (YAML 1.1 reserves it); quote it to mean the string"
        }
    };
    Err(YamlError::new(message, span))
}

/// Checks a collection's tag against its kind; returns what [`Node::tag`] should hold.
fn collection_tag(tag: TagKind, collection: Collection) -> Result<Option<String>, String> {
    let core = match tag {
        TagKind::None | TagKind::NonSpecific => return Ok(None),
        TagKind::Other(other) => return Ok(Some(other)),
        TagKind::Core(core) => core,
    };
    let expected = match core.as_str() {
        "seq" | "omap" | "pairs" => "sequence",
        "map" | "set" => "mapping",
        "str" | "int" | "float" | "bool" | "null" | "binary" | "timestamp" | "merge" | "value" => {
            "scalar"
        }
        _ => return Ok(Some(format!("{}{core}", resolve::CORE_PREFIX))),
    };
    let found = match collection {
        Collection::Seq => "sequence",
        Collection::Map => "mapping",
    };
    if expected != found {
        return Err(format!(
            "expected a {expected} node, but found a {found} (tag !!{core})"
        ));
    }
    // `!!seq` and `!!map` only restate the default; the others are kept for the caller.
    Ok((core != "seq" && core != "map").then(|| format!("{}{core}", resolve::CORE_PREFIX)))
}

/// How Python would hash a key: `True == 1 == 1.0`, `0 == -0.0 == False`, strings by text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyId {
    Null,
    Int(i64),
    FloatBits(u64),
    Str(String),
}

/// `None` for keys that never compare equal to another (NaN) or cannot be hashed.
fn key_id(key: &Node) -> Option<KeyId> {
    Some(match &key.kind {
        NodeKind::Null => KeyId::Null,
        NodeKind::Bool(b) => KeyId::Int(i64::from(*b)),
        NodeKind::Int(i) => KeyId::Int(*i),
        NodeKind::Float(f) if f.is_nan() => return None,
        NodeKind::Float(f) => {
            // 2^63 is exactly representable, so this range check is exact.
            const LIMIT: f64 = 9_223_372_036_854_775_808.0;
            if f.fract() == 0.0 && *f >= -LIMIT && *f < LIMIT {
                KeyId::Int(*f as i64)
            } else {
                KeyId::FloatBits(f.to_bits())
            }
        }
        NodeKind::Str(s) => KeyId::Str(s.clone()),
        NodeKind::Seq(_) | NodeKind::Map(_) => return None,
    })
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.kind {
        NodeKind::Seq(items) => items.iter().map(count_nodes).sum(),
        NodeKind::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| count_nodes(k) + count_nodes(v))
            .sum(),
        _ => 0,
    }
}
