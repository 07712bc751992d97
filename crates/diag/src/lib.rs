//! User-facing diagnostics: a message anchored at `file:line:col`, shown with the source line,
//! a caret under the offending text and, where one fits, a "did you mean" suggestion.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem in a user's input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub file: PathBuf,
    /// 1-based; 0 when the position is unknown.
    pub line: u32,
    pub col: u32,
    /// How many characters the caret underlines (at least 1).
    pub width: usize,
    /// The text of the offending line, if the source is known.
    pub source_line: Option<String>,
    /// A hint shown after the caret, e.g. "did you mean `mode`?".
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, file: impl Into<PathBuf>, line: u32, col: u32) -> Self {
        Diagnostic {
            message: message.into(),
            file: file.into(),
            line,
            col,
            width: 1,
            source_line: None,
            help: None,
        }
    }

    /// Fills in the offending line from the file's source text.
    pub fn with_source(mut self, source: &str) -> Self {
        if self.line > 0 {
            self.source_line = source
                .lines()
                .nth(self.line as usize - 1)
                .map(str::to_string);
        }
        self
    }

    pub fn with_width(mut self, width: usize) -> Self {
        self.width = width.max(1);
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds "did you mean `x`?" when one of `candidates` is close to `word`.
    pub fn suggest<'a>(self, word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        match did_you_mean(word, candidates) {
            Some(best) => self.with_help(format!("did you mean `{best}`?")),
            None => self,
        }
    }

    /// `file:line:col`.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", display_path(&self.file), self.line, self.col)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        if self.line == 0 {
            write!(f, "  --> {}", display_path(&self.file))?;
        } else {
            write!(f, "  --> {}", self.location())?;
        }
        if let Some(line) = &self.source_line {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            // Tabs would misplace the caret; show them as single spaces.
            let shown = line.replace('\t', " ");
            let col = (self.col as usize).saturating_sub(1);
            write!(
                f,
                "\n{pad} |\n{number} | {shown}\n{pad} | {}{}",
                " ".repeat(col),
                "^".repeat(self.width)
            )?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

fn display_path(path: &Path) -> String {
    // Paths under the working directory are shown relative, as a user typed them.
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_line_caret_and_help() {
        let src = "- hosts: all\n  tasks:\n    - fiel: {path: /tmp}\n";
        let d = Diagnostic::new("unknown module `fiel`", "/nowhere/site.yml", 3, 7)
            .with_source(src)
            .with_width(4)
            .suggest("fiel", ["file", "copy", "stat"]);
        assert_eq!(
            d.to_string(),
            "error: unknown module `fiel`\n  --> /nowhere/site.yml:3:7\n  |\n3 |     - fiel: {path: /tmp}\n  |       ^^^^\n  = help: did you mean `file`?"
        );
    }

    #[test]
    fn no_suggestion_for_unrelated_words() {
        assert_eq!(did_you_mean("zzz", ["file", "copy"]), None);
        assert_eq!(did_you_mean("mdoe", ["mode", "owner"]), Some("mode"));
    }
}
