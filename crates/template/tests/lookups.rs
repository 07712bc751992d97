//! Lookup plugins (`lookup()`, `query()`, `run_lookup`) against real controller files and
//! commands, with expectations recorded from ansible-core 2.19.

use std::fs;
use std::path::Path;

use serde_json::{json, Value as Json};
use tend_template::{lookup_names, TemplateError, Templater};

fn render(s: &str, vars: &Json) -> Json {
    Templater::new()
        .render_str(s, vars)
        .unwrap_or_else(|e| panic!("{s:?} failed: {e}"))
}

fn render_err(s: &str, vars: &Json) -> TemplateError {
    match Templater::new().render_str(s, vars) {
        Ok(v) => panic!("{s:?} should fail, gave {v}"),
        Err(e) => e,
    }
}

fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// A playbook directory with `files/`, `templates/` and a role.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let root = dir.path();
        write(&root.join("files/motd.txt"), "  hello  \n\n");
        write(&root.join("top.txt"), "top\n");
        write(&root.join("files/a.conf"), "a");
        write(&root.join("files/b.conf"), "b");
        write(&root.join("files/.hidden.conf"), "h");
        write(&root.join("templates/list.j2"), "{{ [1, 2] }}\n");
        write(
            &root.join("templates/greet.j2"),
            "hello {{ who }} from {{ template_path }}\n",
        );
        write(&root.join("roles/web/files/motd.txt"), "role motd\n");
        Project { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn vars(&self) -> Json {
        json!({ "playbook_dir": self.root().to_string_lossy(), "who": "world" })
    }

    fn path(&self, rel: &str) -> String {
        self.root().join(rel).to_string_lossy().into_owned()
    }
}

#[test]
fn lookup_names_are_listed() {
    let names = lookup_names();
    for expected in [
        "file",
        "template",
        "env",
        "pipe",
        "first_found",
        "fileglob",
        "vars",
        "items",
        "list",
        "lines",
        "dict",
        "sequence",
        "subelements",
        "together",
        "nested",
        "indexed_items",
        "password",
        "ini",
        "csvfile",
        "varnames",
        "random_choice",
    ] {
        assert!(names.contains(&expected), "{expected} missing");
    }
    assert_eq!(Templater::lookup_names(), names);
}

#[test]
fn file_lookup_reads_and_strips() {
    let p = Project::new();
    let vars = p.vars();
    // Relative names are found in the playbook's files/ directory, then the directory itself.
    assert_eq!(
        render("{{ lookup('file', 'motd.txt') }}", &vars),
        json!("  hello")
    );
    assert_eq!(
        render("{{ lookup('file', 'motd.txt', lstrip=True) }}", &vars),
        json!("hello")
    );
    assert_eq!(
        render("{{ lookup('file', 'motd.txt', rstrip=False) }}", &vars),
        json!("  hello  \n\n")
    );
    assert_eq!(
        render("{{ lookup('file', 'top.txt', 'motd.txt') }}", &vars),
        json!("top,  hello")
    );
    assert_eq!(
        render("{{ query('file', 'top.txt', 'files/motd.txt') }}", &vars),
        json!(["top", "  hello"])
    );
    let abs = p.path("top.txt");
    assert_eq!(
        render(
            &format!("{{{{ lookup('ansible.builtin.file', '{abs}') }}}}"),
            &json!({})
        ),
        json!("top")
    );
}

#[test]
fn relative_paths_search_the_role_before_the_playbook() {
    let p = Project::new();
    let mut vars = p.vars();
    vars["role_path"] = json!(p.path("roles/web"));
    assert_eq!(
        render("{{ lookup('file', 'motd.txt') }}", &vars),
        json!("role motd")
    );
    // Not in the role: the playbook directory is the fallback.
    assert_eq!(
        render("{{ lookup('file', 'top.txt') }}", &vars),
        json!("top")
    );
}

#[test]
fn missing_files_and_the_errors_option() {
    let p = Project::new();
    let vars = p.vars();
    let err = render_err("{{ lookup('file', 'nope.txt') }}", &vars);
    match &err {
        TemplateError::LookupFailed { plugin, message } => {
            assert_eq!(plugin, "file");
            assert!(
                message.starts_with("Unable to access the file 'nope.txt'"),
                "{message}"
            );
            assert!(message.contains(&p.path("files/nope.txt")), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err
        .to_string()
        .starts_with("The lookup plugin 'file' failed: Unable to access"));
    // errors=ignore|warn: None, or [] with wantlist; a strict error otherwise.
    assert_eq!(
        render("{{ lookup('file', 'nope.txt', errors='ignore') }}", &vars),
        Json::Null
    );
    assert_eq!(
        render("{{ lookup('file', 'nope.txt', errors='warn') }}", &vars),
        Json::Null
    );
    assert_eq!(
        render(
            "{{ lookup('file', 'nope.txt', errors='ignore', wantlist=True) }}",
            &vars
        ),
        json!([])
    );
    assert_eq!(
        render("{{ query('file', 'nope.txt', errors='ignore') }}", &vars),
        json!([])
    );
    assert!(matches!(
        render_err("{{ lookup('file', 'nope.txt', errors='strict') }}", &vars),
        TemplateError::LookupFailed { .. }
    ));
    // An unknown plugin is an error whatever `errors` says.
    assert_eq!(
        render_err("{{ lookup('nope', 'x', errors='ignore') }}", &vars),
        TemplateError::UnknownLookup {
            name: "nope".into()
        }
    );
}

#[test]
fn wantlist_and_result_shaping() {
    let vars = json!({});
    assert_eq!(
        render("{{ lookup('items', ['a', 'b'], 'c') }}", &vars),
        json!("a,b,c")
    );
    assert_eq!(
        render("{{ lookup('items', [1, 2], 3) }}", &vars),
        json!([1, 2, 3])
    );
    assert_eq!(render("{{ lookup('items', ['a']) }}", &vars), json!("a"));
    assert_eq!(render("{{ lookup('items', []) }}", &vars), json!([]));
    assert_eq!(
        render("{{ lookup('items', ['a'], wantlist=True) }}", &vars),
        json!(["a"])
    );
    assert_eq!(
        render("{{ query('items', 'a', 'b') }}", &vars),
        json!(["a", "b"])
    );
    assert_eq!(render("{{ q('items', 'a') }}", &vars), json!(["a"]));
    assert_eq!(
        render("{{ lookup('dict', {'a': 1}) }}", &vars),
        json!({"key": "a", "value": 1})
    );
}

#[test]
fn template_lookup_renders_with_current_variables() {
    let p = Project::new();
    let vars = p.vars();
    assert_eq!(
        render("{{ lookup('template', 'greet.j2') }}", &vars),
        json!("hello world from greet.j2\n")
    );
    // A single-expression template keeps its native type (ansible-core 2.19).
    assert_eq!(
        render("{{ lookup('template', 'list.j2') }}", &vars),
        json!([1, 2])
    );
    assert_eq!(
        render(
            "{{ lookup('template', 'greet.j2', template_vars={'who': 'you'}) }}",
            &vars
        ),
        json!("hello you from greet.j2\n")
    );
    // Loop variables and `set` locals are visible to the template.
    assert_eq!(
        render(
            "{% for who in ['a'] %}{{ lookup('template', 'greet.j2') }}{% endfor %}",
            &vars
        ),
        json!("hello a from greet.j2\n")
    );
    assert!(matches!(
        render_err("{{ lookup('template', 'nope.j2') }}", &vars),
        TemplateError::LookupFailed { message, .. }
            if message == "the template file nope.j2 could not be found for the lookup"
    ));
    // An undefined variable inside the template is reported by name.
    write(&p.root().join("templates/bad.j2"), "{{ missing_var }}\n");
    assert!(matches!(
        render_err("{{ lookup('template', 'bad.j2') }}", &vars),
        TemplateError::Undefined { name, .. } if name == "missing_var"
    ));
}

#[test]
fn a_template_that_looks_itself_up_is_stopped() {
    let p = Project::new();
    write(
        &p.root().join("templates/loop.j2"),
        "{{ lookup('template', 'loop.j2') }}",
    );
    assert!(matches!(
        render_err("{{ lookup('template', 'loop.j2') }}", &p.vars()),
        TemplateError::LookupFailed { message, .. } if message.contains("nested more than")
    ));
}

#[test]
fn env_lookup() {
    std::env::set_var("TEND_LOOKUP_TEST", "from env");
    std::env::remove_var("TEND_LOOKUP_UNSET");
    let vars = json!({});
    assert_eq!(
        render("{{ lookup('env', 'TEND_LOOKUP_TEST') }}", &vars),
        json!("from env")
    );
    assert_eq!(
        render(
            "{{ lookup('env', 'TEND_LOOKUP_TEST', 'TEND_LOOKUP_UNSET') }}",
            &vars
        ),
        json!("from env,")
    );
    assert_eq!(
        render(
            "{{ lookup('env', 'TEND_LOOKUP_UNSET', default='fallback') }}",
            &vars
        ),
        json!("fallback")
    );
}

#[test]
fn pipe_and_lines_run_commands_in_the_playbook_dir() {
    let p = Project::new();
    let vars = p.vars();
    assert_eq!(
        render("{{ lookup('pipe', 'echo hi; echo there') }}", &vars),
        json!("hi\nthere")
    );
    assert_eq!(
        render("{{ lookup('pipe', 'echo a', 'echo b') }}", &vars),
        json!("a,b")
    );
    assert_eq!(
        render("{{ lookup('pipe', 'cat top.txt') }}", &vars),
        json!("top")
    );
    assert_eq!(
        render(
            "{{ query('lines', 'printf \"a\\nb\\n\"', 'echo c') }}",
            &vars
        ),
        json!(["a", "b", "c"])
    );
    assert!(matches!(
        render_err("{{ lookup('pipe', 'exit 3') }}", &vars),
        TemplateError::LookupFailed { message, .. } if message == "lookup_plugin.pipe(exit 3) returned 3"
    ));
}

#[test]
fn first_found_forms_and_skip() {
    let p = Project::new();
    let vars = p.vars();
    assert_eq!(
        render(
            "{{ lookup('first_found', 'nope.txt', 'files/motd.txt', 'top.txt') }}",
            &vars
        ),
        json!(p.path("files/motd.txt"))
    );
    assert_eq!(
        render(
            "{{ lookup('first_found', ['nope.txt', 'top.txt']) }}",
            &vars
        ),
        json!(p.path("top.txt"))
    );
    let files_dir = p.path("files");
    assert_eq!(
        render(
            &format!(
                "{{{{ lookup('first_found', {{'files': ['x.conf', 'b.conf'], 'paths': ['/nonexistent', '{files_dir}']}}) }}}}"
            ),
            &vars
        ),
        json!(p.path("files/b.conf"))
    );
    assert_eq!(
        render(
            "{{ lookup('first_found', files=['x', 'a.conf'], paths=['files']) }}",
            &vars
        ),
        json!(p.path("files/a.conf"))
    );
    assert!(matches!(
        render_err("{{ lookup('first_found', 'nope1', 'nope2') }}", &vars),
        TemplateError::LookupFailed { message, .. } if message == "No file was found when using first_found."
    ));
    assert_eq!(
        render("{{ query('first_found', 'nope1', skip=True) }}", &vars),
        json!([])
    );
    assert_eq!(
        render(
            "{{ query('first_found', {'files': ['nope1'], 'skip': True}) }}",
            &vars
        ),
        json!([])
    );
}

#[test]
fn fileglob_lookup() {
    let p = Project::new();
    let vars = p.vars();
    // A bare pattern searches files/ first, then the directory; hidden files need a dot.
    assert_eq!(
        render("{{ query('fileglob', '*.conf') }}", &vars),
        json!([p.path("files/a.conf"), p.path("files/b.conf")])
    );
    assert_eq!(
        render("{{ query('fileglob', '*.txt') }}", &vars),
        json!([p.path("files/motd.txt")])
    );
    assert_eq!(
        render("{{ query('fileglob', 'files/.*.conf') }}", &vars),
        json!([p.path("files/.hidden.conf")])
    );
    assert_eq!(
        render("{{ query('fileglob', '*.nope') }}", &vars),
        json!([])
    );
    let pattern = p.path("files/?.conf");
    assert_eq!(
        render(&format!("{{{{ lookup('fileglob', '{pattern}') }}}}"), &vars),
        json!(format!(
            "{},{}",
            p.path("files/a.conf"),
            p.path("files/b.conf")
        ))
    );
}

#[test]
fn vars_lookup() {
    let vars = json!({ "variablename": { "sub": 12 }, "myvar": "ename", "who": "w" });
    assert_eq!(
        render("{{ lookup('vars', 'variabl' + myvar).sub }}", &vars),
        json!(12)
    );
    assert_eq!(
        render("{{ query('vars', 'nope', 'who', default=5) }}", &vars),
        json!([5, "w"])
    );
    // Template locals are visible too (Ansible's lookup sees only task variables).
    assert_eq!(
        render("{% set local = 3 %}{{ lookup('vars', 'local') }}", &vars),
        json!(3)
    );
    assert!(matches!(
        render_err("{{ lookup('vars', 'nope') }}", &vars),
        TemplateError::Undefined { name, detail } if name == "nope" && detail == "No variable named 'nope' was found."
    ));
    assert!(matches!(
        render_err("{{ lookup('vars', 5) }}", &vars),
        TemplateError::LookupFailed { message, .. } if message == "Variable name must be 'str' not 'int'."
    ));
}

#[test]
fn list_shaping_lookups() {
    let vars = json!({});
    assert_eq!(
        render("{{ query('items', [[1, 2], 3]) }}", &vars),
        json!([[1, 2], 3])
    );
    assert_eq!(
        render("{{ query('list', [1, 2], 3) }}", &vars),
        json!([[1, 2], 3])
    );
    assert_eq!(
        render("{{ query('indexed_items', ['a', 'b'], 'c') }}", &vars),
        json!([[0, "a"], [1, "b"], [2, "c"]])
    );
    assert_eq!(
        render("{{ query('together', [1, 2, 3], ['a']) }}", &vars),
        json!([[1, "a"], [2, null], [3, null]])
    );
    assert_eq!(
        render("{{ query('nested', [1, 2], ['a', 'b']) }}", &vars),
        json!([[1, "a"], [1, "b"], [2, "a"], [2, "b"]])
    );
    assert_eq!(
        render("{{ query('nested', [1, 2], ['a', 'b'], [true]) }}", &vars),
        json!([
            [1, "a", true],
            [1, "b", true],
            [2, "a", true],
            [2, "b", true]
        ])
    );
    assert_eq!(
        render("{{ query('dict', {'a': 1, 'b': 2}) }}", &vars),
        json!([{"key": "a", "value": 1}, {"key": "b", "value": 2}])
    );
    assert!(matches!(
        render_err("{{ query('dict', [1]) }}", &vars),
        TemplateError::LookupFailed { .. }
    ));
    assert!(matches!(
        render_err("{{ query('together') }}", &vars),
        TemplateError::LookupFailed { message, .. } if message == "with_together requires at least one element in each list"
    ));
}

#[test]
fn subelements_lookup() {
    let vars = json!({
        "users": [
            { "name": "a", "keys": ["k1", "k2"] },
            { "name": "b", "keys": ["k3"] },
        ]
    });
    // The sub-list is popped from the parent item, as Ansible's lookup does.
    assert_eq!(
        render("{{ query('subelements', users, 'keys') }}", &vars),
        json!([
            [{ "name": "a" }, "k1"],
            [{ "name": "a" }, "k2"],
            [{ "name": "b" }, "k3"],
        ])
    );
    assert_eq!(
        render(
            "{{ query('subelements', {'x': {'name': 'a', 'g': {'h': [1, 2]}}}, 'g.h') }}",
            &vars
        ),
        json!([[{ "name": "a", "g": {} }, 1], [{ "name": "a", "g": {} }, 2]])
    );
    assert_eq!(
        render(
            "{{ query('subelements', [{'name': 'a'}], 'g', {'skip_missing': True}) }}",
            &vars
        ),
        json!([])
    );
    assert!(matches!(
        render_err("{{ query('subelements', [{'name': 'a'}], 'g') }}", &vars),
        TemplateError::LookupFailed { message, .. }
            if message == "could not find 'g' key in iterated item '{'name': 'a'}'"
    ));
}

#[test]
fn sequence_lookup() {
    let vars = json!({});
    let q = |s: &str| render(&format!("{{{{ query('sequence', {s}) }}}}"), &vars);
    assert_eq!(q("'5'"), json!(["1", "2", "3", "4", "5"]));
    assert_eq!(
        q("'4:host%02d'"),
        json!(["host01", "host02", "host03", "host04"])
    );
    assert_eq!(q("'2-10/2'"), json!(["2", "4", "6", "8", "10"]));
    assert_eq!(q("'start=2 end=10 stride=3'"), json!(["2", "5", "8"]));
    assert_eq!(q("start=2, end=10, stride=3"), json!(["2", "5", "8"]));
    assert_eq!(q("'count=3 start=5'"), json!(["5", "6", "7"]));
    assert_eq!(
        q("'start=3 end=1 stride=-1 format=x%03d'"),
        json!(["x003", "x002", "x001"])
    );
    assert_eq!(q("'1-3:%5.2f'"), json!([" 1.00", " 2.00", " 3.00"]));
    assert_eq!(q("'count=0'"), json!([]));
    assert_eq!(
        render("{{ lookup('sequence', '1-3') }}", &vars),
        json!("1,2,3")
    );
    for (term, message) in [
        ("''", "must specify count or end in with_sequence"),
        ("'10-1'", "to count backwards make stride negative"),
        ("'1-3:%x%d'", "bad formatting string: %x%d"),
        (
            "'start=1 end=3 bogus=1'",
            "unrecognized arguments to with_sequence: ['bogus']",
        ),
    ] {
        let err = render_err(&format!("{{{{ query('sequence', {term}) }}}}"), &vars);
        assert!(
            matches!(&err, TemplateError::LookupFailed { message: m, .. } if m == message),
            "{term}: {err:?}"
        );
    }
}

#[test]
fn password_is_stored_and_read_back() {
    let p = Project::new();
    let vars = p.vars();
    let first = render("{{ lookup('password', 'creds/db length=12') }}", &vars);
    let Json::String(first) = first else {
        panic!("not a string: {first}");
    };
    assert_eq!(first.chars().count(), 12);
    // Stored relative to the playbook directory, owner-only, with a trailing newline.
    let stored = p.root().join("creds/db");
    assert_eq!(fs::read_to_string(&stored).ok(), Some(format!("{first}\n")));
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(&stored)
        .map(|m| m.permissions().mode() & 0o777)
        .ok();
    assert_eq!(mode, Some(0o600));
    let dir_mode = fs::metadata(p.root().join("creds"))
        .map(|m| m.permissions().mode() & 0o777)
        .ok();
    assert_eq!(dir_mode, Some(0o700));
    // The next run (another Templater) reads the same password, whatever the length asks.
    let again = Templater::new()
        .render_str("{{ lookup('password', 'creds/db length=30') }}", &vars)
        .ok();
    assert_eq!(again, Some(json!(first)));
    // A password written by hand is taken as is.
    write(&p.root().join("creds/given"), "s3cret\n");
    assert_eq!(
        render("{{ lookup('password', 'creds/given') }}", &vars),
        json!("s3cret")
    );
}

#[test]
fn password_options() {
    let vars = json!({});
    let pw = render(
        "{{ lookup('password', '/dev/null length=8 chars=digits') }}",
        &vars,
    );
    assert!(pw
        .as_str()
        .is_some_and(|s| s.len() == 8 && s.chars().all(|c| c.is_ascii_digit())));
    let pw = render(
        "{{ lookup('password', '/dev/null', length=7, chars=['ascii_lowercase']) }}",
        &vars,
    );
    assert!(pw
        .as_str()
        .is_some_and(|s| s.len() == 7 && s.chars().all(|c| c.is_ascii_lowercase())));
    // Default: 20 characters of letters, digits and `.,:-_`.
    let pw = render("{{ lookup('password', '/dev/null') }}", &vars);
    assert!(pw.as_str().is_some_and(|s| s.len() == 20
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".,:-_".contains(c))));
    // Seeds reproduce Python's random.Random(seed), hence Ansible's passwords.
    assert_eq!(
        render("{{ lookup('password', '/dev/null seed=foo') }}", &vars),
        json!("6JUEsF6-,RiuGZDEWF4r")
    );
    assert_eq!(
        render(
            "{{ lookup('password', '/dev/null', seed='foo', length=8, chars='abc') }}",
            &vars
        ),
        json!("bcbbcaca")
    );
    assert!(matches!(
        render_err("{{ lookup('password', '/dev/null bogus=1') }}", &vars),
        TemplateError::LookupFailed { message, .. }
            if message == "Unrecognized parameter(s) given to password lookup: bogus"
    ));
    assert!(matches!(
        render_err("{{ lookup('password', '/dev/null encrypt=des_crypt') }}", &vars),
        TemplateError::LookupFailed { message, .. } if message.contains("not supported")
    ));
}

#[test]
fn password_encrypt_stores_the_salt() {
    let p = Project::new();
    let vars = p.vars();
    let hashed = render(
        "{{ lookup('password', 'creds/u encrypt=md5_crypt') }}",
        &vars,
    );
    let stored = fs::read_to_string(p.root().join("creds/u")).unwrap_or_default();
    let (plain, salt) = stored
        .trim_end()
        .rsplit_once(" salt=")
        .unwrap_or_else(|| panic!("no salt stored: {stored:?}"));
    assert_eq!(salt.len(), 8);
    // The stored salt makes the hash reproducible.
    let expected = render(
        &format!("{{{{ '{plain}' | password_hash('md5', '{salt}') }}}}"),
        &vars,
    );
    assert_eq!(hashed, expected);
    assert_eq!(
        render(
            "{{ lookup('password', 'creds/u encrypt=md5_crypt') }}",
            &vars
        ),
        expected
    );
    // bcrypt stores its variant too.
    let hashed = render("{{ lookup('password', 'creds/b encrypt=bcrypt') }}", &vars);
    let stored = fs::read_to_string(p.root().join("creds/b")).unwrap_or_default();
    assert!(stored.trim_end().ends_with(" ident=2b"), "{stored:?}");
    assert!(
        hashed.as_str().is_some_and(|h| h.starts_with("$2b$12$")),
        "{hashed}"
    );
    assert_eq!(
        render("{{ lookup('password', 'creds/b encrypt=bcrypt') }}", &vars),
        hashed
    );
}

#[test]
fn run_lookup_serves_with_loops() {
    let p = Project::new();
    let t = Templater::new();
    let vars = p.vars();
    assert_eq!(
        t.run_lookup("items", json!([[1, 2], 3]), &vars),
        Ok(vec![json!(1), json!(2), json!(3)])
    );
    // A single term (with_file: name) is one term.
    assert_eq!(
        t.run_lookup("file", json!("motd.txt"), &vars),
        Ok(vec![json!("  hello")])
    );
    assert_eq!(
        t.run_lookup("ansible.builtin.dict", json!({"a": 1}), &vars),
        Ok(vec![json!({"key": "a", "value": 1})])
    );
    assert_eq!(
        t.run_lookup("sequence", json!("start=1 end=2"), &vars),
        Ok(vec![json!("1"), json!("2")])
    );
    assert_eq!(
        t.run_lookup("template", json!(["greet.j2"]), &vars),
        Ok(vec![json!(format!("hello world from greet.j2\n"))])
    );
    assert_eq!(
        t.run_lookup("nope", json!([]), &vars),
        Err(TemplateError::UnknownLookup {
            name: "nope".into()
        })
    );
    assert!(matches!(
        t.run_lookup("file", json!(["nope.txt"]), &vars),
        Err(TemplateError::LookupFailed { plugin, .. }) if plugin == "file"
    ));
}

#[test]
fn relative_paths_without_playbook_dir_use_the_current_directory() {
    // The test binary runs in the crate directory.
    assert_eq!(
        render("{{ lookup('file', 'Cargo.toml') }}", &json!({}))
            .as_str()
            .map(|s| s.starts_with("[package]")),
        Some(true)
    );
}

#[test]
fn check_template_reports_unknown_names() {
    let t = Templater::new();
    let syntax = |message: &str, col: u32| {
        Err(TemplateError::Syntax {
            message: message.into(),
            line: Some(1),
            col: Some(col),
        })
    };
    assert_eq!(
        t.check_template("{{ x | to_jsn }}"),
        syntax("No filter named 'to_jsn'.", 8)
    );
    assert_eq!(
        t.check_template("{% if x is definedd %}{% endif %}"),
        syntax("No test named 'definedd'.", 12)
    );
    assert_eq!(
        t.check_template("{{ lookup('nope', 'x') }}"),
        syntax("The lookup plugin 'nope' was not found.", 12)
    );
    assert_eq!(
        t.check_template("{{ x | from_yaml_all }}"),
        syntax(
            "No filter named 'from_yaml_all'. (tend does not implement this Ansible filter)",
            8
        )
    );
    assert_eq!(
        t.check_template("{{ x | vault('pw') | ansible.builtin.unvault('pw') }}"),
        Ok(())
    );
    assert_eq!(
        t.check_expr("x is not sucess"),
        syntax("No test named 'sucess'.", 10)
    );
    assert_eq!(
        t.check_template("{{ x | community.general.json_query('a') }}"),
        syntax("No filter named 'community.general.json_query'.", 8)
    );
}

#[test]
fn check_template_accepts_valid_templates() {
    let t = Templater::new();
    for ok in [
        "{{ x | default('a | b') | to_json }}",
        "{{ 'x is nope' }} {# y | nope #}",
        "{% raw %}{{ x | nope }}{% endraw %}",
        "{{ x | ansible.builtin.to_json }} {{ y is ansible.builtin.version('1', '>') }}",
        "{% for k, v in d | dictsort %}{{ k | upper }}{% endfor %}",
        "{% filter upper %}x{% endfilter %}",
        "{{ lookup('ansible.builtin.file', 'x') ~ query(name) ~ q('env', 'HOME') }}",
        "{{ x is not none and y is defined and z is sameas false }}",
        "{{ d.lookup('x') }} {{ 1e5 | int }} {{ x | password_hash('sha512') }}",
        "{{ now(utc=true) | string }} {{ '%Y' | strftime }} {{ v | to_datetime }}",
        "{{ '/etc' is directory and '/x' is not exists and p is abs }}",
        "echo $((1 | 2)) {{ x }}",
    ] {
        assert_eq!(t.check_template(ok), Ok(()), "{ok}");
    }
    assert_eq!(t.check_expr("a is defined and b | bool"), Ok(()));
    assert_eq!(t.check_expr("lookup('env', 'X') | length > 0"), Ok(()));
}

#[test]
fn fqcn_filters_and_tests() {
    let vars = json!({});
    assert_eq!(
        render("{{ 'a' | ansible.builtin.upper }}", &vars),
        json!("A")
    );
    assert_eq!(
        render("{{ [1] | ansible.legacy.to_json }}", &vars),
        json!("[1]")
    );
    assert_eq!(
        render("{{ 1 is ansible.builtin.number }}", &vars),
        json!(true)
    );
}

#[test]
fn ini_lookup() {
    let p = Project::new();
    write(
        &p.root().join("files/users.ini"),
        "[DEFAULT]\nbase = /srv\n\n[global]\nuser = gbob\n\n[integration]\nUser = ibob\n\
         path: %(base)s/app\nmulti = one\n  two\n# comment\npct = 50%%\n",
    );
    write(&p.root().join("files/user.properties"), "user.name=Alice\n");
    let vars = p.vars();
    let ini = |args: &str| render(&format!("{{{{ lookup('ini', {args}) }}}}"), &vars);
    assert_eq!(ini("'user', file='users.ini'"), json!("gbob"));
    // Keys are case-insensitive; values interpolate `%(name)s` from the section or DEFAULT.
    assert_eq!(
        ini("'user', section='integration', file='users.ini'"),
        json!("ibob")
    );
    assert_eq!(
        ini("'user section=integration file=users.ini'"),
        json!("ibob")
    );
    assert_eq!(
        ini("'path', section='integration', file='users.ini'"),
        json!("/srv/app")
    );
    assert_eq!(
        ini("'multi', section='integration', file='users.ini'"),
        json!("one\ntwo")
    );
    assert_eq!(
        ini("'pct', section='integration', file='users.ini'"),
        json!("50%")
    );
    assert_eq!(
        ini("'nope', section='integration', file='users.ini', default='d'"),
        json!("d")
    );
    assert_eq!(
        render(
            "{{ query('ini', 'u.*', section='integration', file='users.ini', re=True) }}",
            &vars
        ),
        json!(["ibob"])
    );
    assert_eq!(
        ini("'user.name', type='properties', file='user.properties'"),
        json!("Alice")
    );
    assert!(matches!(
        render_err("{{ lookup('ini', 'user', section='nope', file='users.ini') }}", &vars),
        TemplateError::LookupFailed { message, .. } if message == "No section 'nope' in 'users.ini'."
    ));
}

#[test]
fn csvfile_lookup() {
    let p = Project::new();
    write(
        &p.root().join("files/elements.csv"),
        "Li,3,\"6,94\"\n\"Be\",4,9.01\n",
    );
    write(
        &p.root().join("files/ansible.csv"),
        "H\t1\t1.008\nHe\t2\t4.0026\n",
    );
    let vars = p.vars();
    assert_eq!(
        render(
            "{{ lookup('csvfile', 'Li file=elements.csv delimiter=,') }}",
            &vars
        ),
        json!("3")
    );
    assert_eq!(
        render(
            "{{ lookup('csvfile', 'Li', file='elements.csv', delimiter=',', col=2) }}",
            &vars
        ),
        json!("6,94")
    );
    // Tab separated ansible.csv by default.
    assert_eq!(
        render("{{ lookup('csvfile', 'He', col=2) }}", &vars),
        json!("4.0026")
    );
    assert_eq!(render("{{ query('csvfile', 'Xx') }}", &vars), json!([]));
    assert_eq!(
        render("{{ lookup('csvfile', 'Xx', default='none') }}", &vars),
        json!("none")
    );
    assert!(matches!(
        render_err("{{ lookup('csvfile', 'He bogus=1') }}", &vars),
        TemplateError::LookupFailed { message, .. } if message == "'bogus' is not a valid option"
    ));
}

#[test]
fn varnames_and_random_choice() {
    let vars = json!({ "qz_1": "hello", "qz_2": "world", "qa_1": "no" });
    assert_eq!(
        render("{{ query('varnames', '^qz_.+') }}", &vars),
        json!(["qz_1", "qz_2"])
    );
    assert_eq!(
        render(
            "{{ lookup('vars', *lookup('varnames', '^qz_.+', wantlist=True)) }}",
            &vars
        ),
        json!("hello,world")
    );
    // Template functions are not variables.
    assert_eq!(
        render("{{ query('varnames', '^range$') }}", &vars),
        json!([])
    );
    let picked = render("{{ lookup('random_choice', 'a', 'b') }}", &vars);
    assert!(picked == json!("a") || picked == json!("b"));
    assert_eq!(render("{{ query('random_choice') }}", &vars), json!([]));
}

#[test]
fn with_first_found_searches_the_actions_directory() {
    let p = Project::new();
    write(&p.root().join("vars/Debian.yml"), "x: 1\n");
    write(&p.root().join("templates/Debian.yml"), "x: 2\n");
    let t = Templater::new();
    let vars = p.vars();
    let terms = json!(["RedHat.yml", "Debian.yml"]);
    assert_eq!(
        t.run_lookup_for_action("first_found", terms.clone(), &vars, "include_vars"),
        Ok(vec![json!(p.path("vars/Debian.yml"))])
    );
    assert_eq!(
        t.run_lookup_for_action(
            "first_found",
            terms.clone(),
            &vars,
            "ansible.builtin.template"
        ),
        Ok(vec![json!(p.path("templates/Debian.yml"))])
    );
    // Any other action (and run_lookup) searches files/ first.
    assert_eq!(
        t.run_lookup("first_found", json!(["motd.txt"]), &vars),
        Ok(vec![json!(p.path("files/motd.txt"))])
    );
    // In a template, first_found searches only the directories themselves.
    assert!(matches!(
        t.render_str("{{ lookup('first_found', 'motd.txt') }}", &vars),
        Err(TemplateError::LookupFailed { .. })
    ));
}
