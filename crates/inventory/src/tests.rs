//! Tests of the public inventory API: parsing (snapshots), variable precedence, patterns,
//! implicit localhost, vars directories and error positions.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::{Inventory, InventoryError};

fn yaml(src: &str) -> Inventory {
    Inventory::from_yaml_str(src, Path::new("/inv/hosts.yml"))
        .unwrap_or_else(|e| panic!("yaml inventory failed: {e}"))
}

fn ini(src: &str) -> Inventory {
    Inventory::from_ini_str(src, Path::new("/inv/hosts"))
        .unwrap_or_else(|e| panic!("ini inventory failed: {e}"))
}

fn yaml_err(src: &str) -> String {
    match Inventory::from_yaml_str(src, Path::new("/inv/hosts.yml")) {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e.to_string(),
    }
}

fn ini_err(src: &str) -> String {
    match Inventory::from_ini_str(src, Path::new("/inv/hosts")) {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e.to_string(),
    }
}

fn select(inv: &Inventory, pattern: &str) -> Vec<String> {
    inv.select(pattern)
        .unwrap_or_else(|e| panic!("pattern {pattern}: {e}"))
}

/// Everything a consumer sees, in a stable text form. `root` is replaced by `<dir>`.
fn dump(inv: &Inventory, root: Option<&Path>) -> String {
    let mut out = String::from("groups:\n");
    for (group, hosts) in inv.groups() {
        let _ = writeln!(out, "  {group}: {}", hosts.join(", "));
    }
    out.push_str("hosts:\n");
    for host in inv.hosts() {
        let _ = writeln!(out, "  {}", host.name);
        let _ = writeln!(out, "    groups: {}", host.groups.join(", "));
        let _ = writeln!(
            out,
            "    group_names: {}",
            inv.group_names(&host.name).join(", ")
        );
        for (k, v) in inv.host_vars(&host.name) {
            let mut v = v.to_string();
            if let Some(root) = root {
                v = v.replace(&root.display().to_string(), "<dir>");
            }
            let _ = writeln!(out, "    {k} = {v}");
        }
    }
    out
}

const YAML_FIXTURE: &str = r#"
all:
  vars:
    env: prod
    level: all
  hosts:
    bastion:
      ansible_host: 203.0.113.5
  children:
    web:
      hosts:
        web[01:03].example.com:
        web04.example.com:2222:
          weight: 2
      vars:
        http_port: 80
        level: web
      children:
        web_eu:
          hosts:
            web01.example.com:
              level: host
          vars:
            level: web_eu
    db:
      hosts:
        db-[a:b]:
          enabled: yes
          ratio: 1.5
          tags: [x, y]
          nothing:
      vars:
        level: db
monitored:
  children:
    web:
    db:
"#;

const INI_FIXTURE: &str = r#"
# A comment, and hosts before any section are ungrouped.
bastion ansible_host=203.0.113.5
; another comment style

[web]
web[01:03].example.com
web04.example.com:2222 weight=2 note="two words" quoted="'5'" lst="[1, 'a']" flag=True off=no

[web:vars]
http_port=80
level=web
greeting = hello world # kept: not a Python literal
count=10 # dropped: literal_eval ignores the comment

[monitored:children]
web
db

[web_eu]
web01.example.com level=host

[web_eu:vars]
level=web_eu

[web:children]
web_eu

[db]
db-[a:b]

[db:vars]
level=db

[all:vars]
env=prod
level=all
"#;

#[test]
fn yaml_inventory_snapshot() {
    insta::assert_snapshot!(dump(&yaml(YAML_FIXTURE), None));
}

#[test]
fn ini_inventory_snapshot() {
    insta::assert_snapshot!(dump(&ini(INI_FIXTURE), None));
}

#[test]
fn yaml_keeps_yaml_types() {
    let inv = yaml(YAML_FIXTURE);
    let vars = inv.host_vars("db-a");
    assert_eq!(vars["enabled"], json!(true));
    assert_eq!(vars["ratio"], json!(1.5));
    assert_eq!(vars["tags"], json!(["x", "y"]));
    assert_eq!(vars["nothing"], Value::Null);
    assert_eq!(
        inv.host_vars("web04.example.com")["ansible_port"],
        json!(2222)
    );
    assert_eq!(
        inv.host_vars("web01.example.com")["inventory_file"],
        json!("/inv/hosts.yml")
    );
    assert_eq!(
        inv.host_vars("web01.example.com")["inventory_dir"],
        json!("/inv")
    );
}

#[test]
fn ini_values_are_typed_like_ansible() {
    let inv = ini(INI_FIXTURE);
    let vars = inv.host_vars("web04.example.com");
    assert_eq!(vars["ansible_port"], json!(2222));
    assert_eq!(vars["weight"], json!(2));
    assert_eq!(vars["note"], json!("two words"));
    assert_eq!(vars["quoted"], json!("5"));
    assert_eq!(vars["lst"], json!([1, "a"]));
    assert_eq!(vars["flag"], json!(true));
    assert_eq!(vars["off"], json!("no"));
    // [group:vars] values go through the same literal_eval as host lines.
    assert_eq!(vars["http_port"], json!(80));
    assert_eq!(vars["count"], json!(10));
    assert_eq!(
        vars["greeting"],
        json!("hello world # kept: not a Python literal")
    );
}

#[test]
fn yaml_and_ini_fixtures_agree_on_structure() {
    let (y, i) = (yaml(YAML_FIXTURE), ini(INI_FIXTURE));
    for pattern in ["all", "web", "web_eu", "db", "monitored", "ungrouped"] {
        let mut a = select(&y, pattern);
        let mut b = select(&i, pattern);
        a.sort();
        b.sort();
        assert_eq!(a, b, "{pattern}");
    }
    for host in y.hosts() {
        assert_eq!(
            y.host_vars(&host.name).get("level"),
            i.host_vars(&host.name).get("level"),
            "{}",
            host.name
        );
    }
}

#[test]
fn group_vars_precedence_by_depth_then_name() {
    let inv = yaml(
        r#"
all:
  vars: {v: all, only_all: 1}
  children:
    zeta:
      vars: {v: zeta}
      hosts: {h1: , h2: }
    alpha:
      vars: {v: alpha}
      hosts: {h1: , h3: {v: host}}
      children:
        deep:
          vars: {v: deep}
          hosts: {h4: }
    prio_low:
      vars: {v: prio_low, ansible_group_priority: 10}
      hosts: {h5: }
    prio_high:
      vars: {v: prio_high}
      hosts: {h5: }
"#,
    );
    let v = |h: &str| inv.host_vars(h)["v"].clone();
    // Same depth: alphabetical, so zeta wins over alpha.
    assert_eq!(v("h1"), json!("zeta"));
    assert_eq!(v("h2"), json!("zeta"));
    // Host vars beat every group.
    assert_eq!(v("h3"), json!("host"));
    // Deeper (child) group beats its parent.
    assert_eq!(v("h4"), json!("deep"));
    // ansible_group_priority sorts before the name and is not a variable.
    assert_eq!(v("h5"), json!("prio_low"));
    assert!(!inv.host_vars("h5").contains_key("ansible_group_priority"));
    assert_eq!(inv.host_vars("h4")["only_all"], json!(1));
}

#[test]
fn children_depth_uses_longest_path() {
    // `c` is reachable as all>a>c and all>a>b>c: its depth is 3, so it beats `b` (2).
    let inv = ini(
        "[a:children]\nb\nc\n[b:children]\nc\n[a]\n[b]\nhb\n[c]\nhc\n\
         [a:vars]\nv=a\n[b:vars]\nv=b\n[c:vars]\nv=c\n[b]\nhc\n",
    );
    assert_eq!(inv.host_vars("hc")["v"], json!("c"));
    assert_eq!(inv.group_names("hc"), ["a", "b", "c"]);
    assert_eq!(select(&inv, "a"), ["hb", "hc"]);
}

#[test]
fn host_in_several_groups_is_one_host() {
    let inv = yaml("web:\n  hosts:\n    h1:\n      a: 1\ndb:\n  hosts:\n    h1:\n      b: 2\n");
    assert_eq!(inv.hosts().count(), 1);
    assert_eq!(inv.group_names("h1"), ["db", "web"]);
    let vars = inv.host_vars("h1");
    assert_eq!((vars["a"].clone(), vars["b"].clone()), (json!(1), json!(2)));
}

#[test]
fn ungrouped_and_all_membership() {
    let inv = yaml("all:\n  hosts:\n    lone:\n  children:\n    web:\n      hosts:\n        w1:\n");
    let groups = inv.groups();
    assert_eq!(groups["all"], ["lone", "w1"]);
    assert_eq!(groups["ungrouped"], ["lone"]);
    assert_eq!(groups["web"], ["w1"]);
    assert_eq!(inv.group_names("lone"), ["ungrouped"]);
    assert_eq!(inv.group_names("w1"), ["web"]);

    // INI: a host listed before any section but also in a group leaves `ungrouped`.
    let inv = ini("h1\nh2\n[web]\nh1\n");
    assert_eq!(inv.groups()["ungrouped"], ["h2"]);
    assert_eq!(inv.groups()["web"], ["h1"]);
    assert_eq!(
        inv.groups().keys().collect::<Vec<_>>(),
        ["all", "ungrouped", "web"]
    );
}

#[test]
fn string_shorthand_for_sections() {
    let inv = yaml("web:\n  hosts: w1\n  children: sub\nsub:\n  hosts:\n    s1:\n");
    assert_eq!(select(&inv, "web"), ["w1", "s1"]);
}

#[test]
fn ini_forward_references() {
    // Children and vars may name groups declared further down.
    let inv = ini("[top:children]\nmid\n[mid:vars]\nx=1\n[mid:children]\nleaf\n[leaf]\nl1\n");
    assert_eq!(select(&inv, "top"), ["l1"]);
    assert_eq!(inv.host_vars("l1")["x"], json!(1));
}

const PATTERN_FIXTURE: &str = r#"
all:
  hosts:
    lone:
  children:
    web:
      hosts:
        web1:
        web2:
        web3:
    db:
      hosts:
        db1:
        db2:
        web3:
    staging:
      hosts:
        web2:
        db2:
    dns:
      hosts:
        ns1.example.com:
        ns2.example.org:
"#;

#[test]
fn pattern_forms_snapshot() {
    let inv = yaml(PATTERN_FIXTURE);
    let patterns = [
        "all",
        "*",
        "",
        "web",
        "web1",
        "web:db",
        "web,db",
        "web, db ,",
        "web:&staging",
        "web:!staging",
        "web:db:&staging",
        "all:!web:!db",
        "!staging",
        "&staging",
        "web:!web1:&db",
        "web*",
        "db?",
        "*.example.com",
        "ns[12].*",
        "~web\\d",
        "~(web|db)[13]",
        "~\\.org$",
        "~.*\\.org$",
        "web[0]",
        "web[-1]",
        "web[1]",
        "web[0:1]",
        "web[1:]",
        "web[0-1]",
        "db[1:5]",
        "web[0]:db[0]",
        "web[2:0]",
        "nosuch",
        "nosuch[3]",
        "all:!nosuch",
        "lone",
        "ungrouped",
        "web:lone",
    ];
    let mut out = String::new();
    for p in patterns {
        let _ = writeln!(out, "{p:>18} => {}", select(&inv, p).join(" "));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn pattern_errors() {
    let inv = yaml(PATTERN_FIXTURE);
    let err = |p: &str| match inv.select(p) {
        Ok(hosts) => panic!("{p} selected {hosts:?}"),
        Err(e) => e.to_string(),
    };
    insta::assert_snapshot!([err("~web("), err("web[3]"), err("web[-4]"), err("web:!")].join("\n"));
}

#[test]
fn limit_intersects_in_pattern_order() {
    let inv = yaml(PATTERN_FIXTURE);
    let hosts = inv
        .select_with_limit("all", Some("staging,web1"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hosts, ["web1", "web2", "db2"]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("limit.txt");
    fs::write(&file, "db1\n\nweb3\n").unwrap_or_else(|e| panic!("{e}"));
    let limit = format!("@{}", file.display());
    let hosts = inv
        .select_with_limit("web:db", Some(&limit))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hosts, ["web3", "db1"]);
    assert_eq!(
        inv.select_with_limit("web", None).ok(),
        Some(vec!["web1".to_string(), "web2".into(), "web3".into()])
    );
}

#[test]
fn implicit_localhost() {
    let inv =
        yaml("all:\n  vars:\n    shared: 1\n  children:\n    web:\n      hosts:\n        w1:\n");
    assert_eq!(select(&inv, "localhost"), ["localhost"]);
    assert_eq!(select(&inv, "127.0.0.1"), ["127.0.0.1"]);
    assert_eq!(select(&inv, "web:localhost"), ["w1", "localhost"]);
    // Not part of `all`, and only summoned by an exact name.
    assert_eq!(select(&inv, "all"), ["w1"]);
    assert!(select(&inv, "local*").is_empty());
    let host = inv
        .host("localhost")
        .unwrap_or_else(|| panic!("no implicit localhost"));
    assert!(host.implicit);
    assert!(host.groups.is_empty());
    assert!(inv.group_names("localhost").is_empty());
    let vars = inv.host_vars("localhost");
    assert_eq!(vars["ansible_connection"], json!("local"));
    // Ansible applies `all` group vars to the implicit localhost too.
    assert_eq!(vars["shared"], json!(1));
    assert!(!inv.groups()["all"].contains(&"localhost".to_string()));
    assert!(inv.host("otherhost").is_none());
    assert!(inv.resolve_implicit_localhost("w1").is_none());

    let empty = Inventory::empty();
    assert!(select(&empty, "all").is_empty());
    assert_eq!(select(&empty, "localhost"), ["localhost"]);
}

#[test]
fn explicit_localhost_alias_wins() {
    let inv = ini("127.0.0.1 ansible_connection=local marker=1\n");
    // `localhost` resolves to the localhost-like host the inventory defines.
    assert_eq!(select(&inv, "localhost"), ["127.0.0.1"]);
    assert_eq!(inv.host("localhost").map(|h| h.implicit), Some(false));
    assert_eq!(inv.host_vars("localhost")["marker"], json!(1));

    let inv = yaml("local:\n  hosts:\n    localhost:\n      ansible_connection: local\n");
    assert_eq!(select(&inv, "localhost"), ["localhost"]);
    assert_eq!(inv.group_names("localhost"), ["local"]);
    assert_eq!(select(&inv, "all"), ["localhost"]);
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[test]
fn group_vars_and_host_vars_dirs() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path();
    write(
        &root.join("hosts.yml"),
        r#"
all:
  vars:
    v: inv_all
    from_inv_all: 1
  children:
    web:
      vars:
        v: inv_web
        web_only: inv
      hosts:
        web1:
          h: inv_host
        web2:
    app:
      hosts:
        app1:
      vars:
        v: inv_app
"#,
    );
    write(
        &root.join("group_vars/all.yml"),
        "v: dir_all\nfrom_dir_all: 1\n",
    );
    write(&root.join("group_vars/web.yaml"), "web_only: dir\n");
    write(
        &root.join("group_vars/app/10-first.yml"),
        "v: dir_app_1\nfirst: 1\n",
    );
    write(&root.join("group_vars/app/20-second"), "v: dir_app_2\n");
    write(
        &root.join("group_vars/app/nested/x.json"),
        "{\"nested\": true}\n",
    );
    write(&root.join("group_vars/app/skip.txt"), "v: never\n");
    write(&root.join("group_vars/app/backup.yml~"), "v: never\n");
    write(&root.join("group_vars/app/.hidden.yml"), "v: never\n");
    // `<name>` without extension is found first and hides `<name>.yml`.
    write(&root.join("host_vars/web1"), "h: dir_host\n");
    write(&root.join("host_vars/web1.yml"), "h: never\n");
    write(
        &root.join("host_vars/localhost.yml"),
        "from_localhost_file: 1\n",
    );
    write(&root.join("host_vars/empty.yml"), "");

    let source = root.join("hosts.yml").display().to_string();
    let inv = Inventory::load(&source).unwrap_or_else(|e| panic!("{e}"));
    let web1 = inv.host_vars("web1");
    // group_vars/all beats every inventory-file group var; group_vars/<g> beats it in turn.
    assert_eq!(inv.host_vars("web2")["v"], json!("dir_all"));
    assert_eq!(web1["web_only"], json!("dir"));
    assert_eq!(web1["h"], json!("dir_host"));
    assert_eq!(web1["from_inv_all"], json!(1));
    assert_eq!(web1["from_dir_all"], json!(1));
    let app1 = inv.host_vars("app1");
    assert_eq!(app1["v"], json!("dir_app_2"));
    assert_eq!(app1["first"], json!(1));
    assert_eq!(app1["nested"], json!(true));
    assert_eq!(inv.host_vars("localhost")["from_localhost_file"], json!(1));
    assert_eq!(inv.host_vars("localhost")["from_dir_all"], json!(1));
    insta::assert_snapshot!(dump(&inv, Some(root)));
}

#[test]
fn inventory_directory() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path();
    write(&root.join("01-web.yml"), "web:\n  hosts:\n    web1:\n");
    write(
        &root.join("02-db"),
        "[db]\ndb1 port=5432\n[db:vars]\nrole=db\n",
    );
    write(&root.join("03-extra.ini"), "[web]\nweb2\n");
    write(
        &root.join("sub/more.yaml"),
        "cache:\n  hosts:\n    cache1:\n",
    );
    for skipped in [
        "hosts~", "old.orig", "x.bak", "x.retry", "x.pyc", ".hidden", "notes.md",
    ] {
        write(&root.join(skipped), "this would not parse: [[[\n");
    }
    write(&root.join("group_vars/web.yml"), "from_group_vars: yes\n");
    write(&root.join("host_vars/db1.yml"), "from_host_vars: 1\n");

    let inv = Inventory::load(&root.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(select(&inv, "all"), ["web1", "web2", "db1", "cache1"]);
    assert_eq!(inv.host_vars("web2")["from_group_vars"], json!(true));
    assert_eq!(inv.host_vars("db1")["from_host_vars"], json!(1));
    assert_eq!(inv.host_vars("db1")["port"], json!(5432));
    assert_eq!(
        inv.host_vars("cache1")["inventory_file"],
        json!(root.join("sub/more.yaml").display().to_string())
    );
}

#[test]
fn format_detection_without_extension() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let yaml_file = dir.path().join("yaml_inv");
    write(&yaml_file, "all:\n  hosts:\n    y1:\n      n: 1\n");
    let inv = Inventory::load(&yaml_file.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inv.host_vars("y1")["n"], json!(1));

    let ini_file = dir.path().join("ini_inv");
    write(&ini_file, "i1 n=1\ni2\n");
    let inv = Inventory::load(&ini_file.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(select(&inv, "all"), ["i1", "i2"]);

    let broken = dir.path().join("broken_yaml");
    write(&broken, "web:\n  hosts: [a, b]\nother: 1\n");
    let err = Inventory::load(&broken.display().to_string())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("error: `hosts` of group `web` must be a mapping") && err.contains(":2:10\n"),
        "{err}"
    );
    assert!(
        err.ends_with("2 |   hosts: [a, b]\n  |          ^"),
        "{err}"
    );

    let script = dir.path().join("script");
    write(&script, "#!/usr/bin/env python3\nprint('{}')\n");
    assert!(Inventory::load(&script.display().to_string()).is_err());
}

#[test]
fn comma_host_lists() {
    let inv =
        Inventory::load("web1,db1:2222, 10.0.0.5 ,[::1]:22,").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(select(&inv, "all"), ["web1", "db1", "10.0.0.5", "::1"]);
    assert_eq!(
        select(&inv, "ungrouped"),
        ["web1", "db1", "10.0.0.5", "::1"]
    );
    assert_eq!(inv.host_vars("db1")["ansible_port"], json!(2222));
    assert_eq!(inv.host_vars("::1")["ansible_port"], json!(22));
    // Ranges are not expanded in host lists.
    let inv = Inventory::load("web[1:2],").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(select(&inv, "all"), ["web[1:2]"]);
    // ::1 is in the inventory, so `localhost` resolves to it.
    let inv = Inventory::load("::1,").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(select(&inv, "localhost"), ["::1"]);
}

#[test]
fn load_many_merges_sources() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let a = dir.path().join("a/hosts.yml");
    let b = dir.path().join("b/hosts.ini");
    write(
        &a,
        "web:\n  hosts:\n    web1:\n      x: a\n  vars:\n    g: a\n",
    );
    write(&b, "[web]\nweb1 x=b\nweb2\n[web:vars]\ng=b\n");
    write(&dir.path().join("a/group_vars/web.yml"), "gv: a\n");
    write(&dir.path().join("b/group_vars/web.yml"), "gv: b\n");
    let sources = [
        a.display().to_string(),
        b.display().to_string(),
        "extra,".into(),
    ];
    let inv = Inventory::load_many(&sources).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(select(&inv, "all"), ["extra", "web1", "web2"]);
    let vars = inv.host_vars("web1");
    assert_eq!(vars["x"], json!("b"));
    assert_eq!(vars["g"], json!("b"));
    assert_eq!(vars["gv"], json!("b"));
    // inventory_file records the first source a host appeared in.
    assert_eq!(vars["inventory_file"], json!(a.display().to_string()));
    assert!(Inventory::load_many(&[]).is_ok());
}

#[test]
fn missing_source() {
    let err = Inventory::load("/definitely/not/here").err();
    assert!(matches!(err, Some(InventoryError::NotFound(_))), "{err:?}");
}

#[test]
fn yaml_errors_have_positions() {
    let errors = [
        yaml_err("web:\n  host:\n    w1:\n"),
        yaml_err("web:\n  hosts:\n    w1:\n  childs:\n    x:\n"),
        yaml_err("web:\n  varz:\n    a: 1\n"),
        yaml_err("web:\n  hosts:\n    - w1\n    - w2\n"),
        yaml_err("web:\n  hosts:\n    w1: not-a-mapping\n"),
        yaml_err("web:\n  hosts:\n    w1:\n      a: [1, 2\n"),
        yaml_err("web: [a, b]\n"),
        yaml_err("- web\n"),
        yaml_err("plugin: aws_ec2\n"),
        yaml_err("web:\n  hosts:\n    1.5:\n"),
        yaml_err("web:\n  hosts:\n    w[1:x]:\n"),
        yaml_err("a:\n  children:\n    b:\n      children:\n        a:\n"),
        yaml_err("web:\n  vars:\n    ansible_group_priority: high\n"),
        yaml_err("web:\n  mystery: 1\n"),
    ];
    insta::assert_snapshot!(errors.join("\n"));
}

#[test]
fn ini_errors_have_positions() {
    let errors = [
        ini_err("[web]\nw1 novalue\n"),
        ini_err("[web:vars]\njustakey\n"),
        ini_err("[web:nonsense]\n"),
        ini_err("[web group]\n"),
        ini_err("[web:children]\nmissing\n"),
        ini_err("[web:vars]\na=1\n"),
        ini_err("[web]\n  w1 a='unterminated\n"),
        ini_err("[web]\nw1:\n"),
        ini_err("---\nall:\n"),
        ini_err("[web:children]\nbad:name\n"),
        ini_err("[a:children]\nb\n[b:children]\na\n"),
        ini_err("[web]\nw[3:1:0]\n"),
    ];
    insta::assert_snapshot!(errors.join("\n"));
}

#[test]
fn example_inventory_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../inventory.example.yaml");
    let inv = Inventory::load(&path.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(select(&inv, "all"), ["localhost"]);
    assert_eq!(select(&inv, "local"), ["localhost"]);
    let vars = inv.host_vars("localhost");
    assert_eq!(vars["ansible_connection"], json!("local"));
    assert!(vars.contains_key("demo_dir"));
    assert!(!inv.host("localhost").is_some_and(|h| h.implicit));
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    write(path, text);
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A `#!/bin/sh` inventory script that prints `json` for `--list` and fails otherwise.
fn list_script(json: &str) -> String {
    format!(
        "#!/bin/sh\n[ \"$1\" = --list ] || {{ echo \"unexpected: $*\" >&2; exit 3; }}\n\
         cat <<'EOF'\n{json}\nEOF\n"
    )
}

fn load_path(path: &Path) -> Result<Inventory, InventoryError> {
    Inventory::load(&path.display().to_string())
}

#[test]
fn inventory_script_with_meta() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path();
    let script = root.join("inventory.sh");
    // A script that reads its stdin would hang or fail here unless stdin is null.
    let body = list_script(
        r#"{
  "web": ["web1", "web2", "web[3:4]", "web5:2222"],
  "db": {"hosts": ["db1"], "vars": {"port": 5432, "role": "db"}},
  "prod": {"children": ["web", "db"], "vars": {"env": "prod", "role": "generic"}},
  "all": {"vars": {"ntp": "pool.ntp.org", "role": "any"}, "hosts": ["lonely"]},
  "empty": {"hosts": []},
  "_meta": {
    "hostvars": {
      "web1": {"role": "frontend", "nested": {"a": [1, null, true]}},
      "lonely": {"ansible_host": "192.0.2.1"},
      "stranger": {"never": 1}
    }
  }
}"#,
    )
    .replacen(
        "#!/bin/sh\n",
        "#!/bin/sh\nif read -r line; then exit 9; fi\n",
        1,
    );
    write_script(&script, &body);
    write(&root.join("group_vars/web.yml"), "from_group_vars: 1\n");

    let inv = load_path(&script).unwrap_or_else(|e| panic!("{e}"));
    // Names are verbatim: no ranges, no ports. (`all` lists its own hosts first.)
    assert_eq!(
        select(&inv, "all"),
        ["lonely", "web1", "web2", "web[3:4]", "web5:2222", "db1"]
    );
    assert_eq!(select(&inv, "ungrouped"), ["lonely"]);
    assert_eq!(
        select(&inv, "prod"),
        ["web1", "web2", "web[3:4]", "web5:2222", "db1"]
    );
    assert!(inv.host("stranger").is_none());
    let web1 = inv.host_vars("web1");
    assert_eq!(web1["role"], json!("frontend"));
    assert_eq!(web1["env"], json!("prod"));
    assert_eq!(web1["from_group_vars"], json!(1));
    assert!(!web1.contains_key("ansible_port"));
    // A child group's vars beat its parent's, and the parent's beat `all`'s.
    assert_eq!(inv.host_vars("db1")["role"], json!("db"));
    assert_eq!(inv.host_vars("web2")["role"], json!("generic"));
    assert_eq!(inv.host_vars("lonely")["role"], json!("any"));
    assert_eq!(web1["inventory_file"], json!(script.display().to_string()));
    insta::assert_snapshot!(dump(&inv, Some(root)));
}

#[test]
fn inventory_script_without_meta_asks_each_host() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path();
    let script = root.join("inventory");
    write_script(
        &script,
        r#"#!/bin/sh
case "$1" in
--list) cat <<'EOF'
{"web": {"hosts": ["web1", "web2"], "vars": {"g": "web"}}, "solo": {"a": 1}}
EOF
;;
--host)
  echo "$2" >> "$(dirname "$0")/calls"
  case "$2" in
  web1) printf '{"from_host": "%s", "g": "host", "cwd": "%s"}\n' "$2" "$PWD" ;;
  solo) echo '{}' ;;
  esac
;;
*) exit 2 ;;
esac
"#,
    );
    let inv = load_path(&script).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(select(&inv, "all"), ["web1", "web2", "solo"]);
    let calls = fs::read_to_string(root.join("calls")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(calls, "web1\nweb2\nsolo\n");
    let web1 = inv.host_vars("web1");
    assert_eq!(web1["from_host"], json!("web1"));
    assert_eq!(web1["g"], json!("host"));
    let cwd = std::env::current_dir().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(web1["cwd"], json!(cwd.display().to_string()));
    // Empty `--host` output means no variables.
    assert_eq!(inv.host_vars("web2")["g"], json!("web"));
    // An object without `hosts`/`vars`/`children` is a host named like its group, and the
    // object holds the group's vars (Ansible's shorthand).
    assert_eq!(select(&inv, "solo"), ["solo"]);
    assert_eq!(inv.group_names("solo"), ["solo"]);
    assert_eq!(inv.host_vars("solo")["a"], json!(1));
}

#[test]
fn inventory_script_in_directory() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path();
    write(
        &root.join("01-static.yml"),
        "web:\n  hosts:\n    web1:\n      x: yaml\n  vars:\n    g: yaml\n",
    );
    write_script(
        &root.join("02-dynamic.sh"),
        &list_script(
            r#"{"web": ["web2", "web1"], "db": {"hosts": ["db1"]},
                "_meta": {"hostvars": {"web1": {"x": "script"}}}}"#,
        ),
    );
    // Executable but not a script (no `#!`): read as an inventory, as Ansible ends up doing.
    write_script(&root.join("03-exec.ini"), "[cache]\ncache1\n");
    // Ignored names are not run either.
    write_script(&root.join("04-broken.sh~"), "#!/bin/sh\nexit 1\n");
    write_script(&root.join("05-broken.bak"), "#!/bin/sh\nexit 1\n");
    write(&root.join("group_vars/db.yml"), "from_group_vars: 1\n");

    let inv = load_path(root).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(select(&inv, "all"), ["web1", "web2", "db1", "cache1"]);
    assert_eq!(select(&inv, "web"), ["web1", "web2"]);
    assert_eq!(inv.host_vars("web1")["x"], json!("script"));
    assert_eq!(inv.host_vars("web2")["g"], json!("yaml"));
    assert_eq!(inv.host_vars("db1")["from_group_vars"], json!(1));
    assert_eq!(
        inv.host_vars("web2")["inventory_file"],
        json!(root.join("02-dynamic.sh").display().to_string())
    );
    assert_eq!(
        inv.host_vars("web1")["inventory_file"],
        json!(root.join("01-static.yml").display().to_string())
    );
}

#[test]
fn inventory_script_errors() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path();
    let cases: &[(&str, String)] = &[
        (
            "fails",
            "#!/bin/sh\necho 'partial output'\nprintf '  cannot reach the API\\n\\n' >&2\nexit 3\n"
                .into(),
        ),
        ("fails_silently", "#!/bin/sh\nexit 1\n".into()),
        ("invalid_json", list_script("{\n  \"web\": [\"web1\",]\n}")),
        ("truncated_json", list_script("{\"web\": [\"web1\"")),
        ("empty_output", "#!/bin/sh\n".into()),
        ("not_an_object", list_script("[\"web1\"]")),
        ("group_scalar", list_script("{\"web\": \"web1\"}")),
        (
            "hosts_not_list",
            list_script("{\"web\": {\"hosts\": {\"web1\": {}}}}"),
        ),
        (
            "host_not_string",
            list_script("{\"web\": {\"hosts\": [\"web1\", 2]}}"),
        ),
        ("host_empty", list_script("{\"web\": [\"\"]}")),
        ("vars_not_object", list_script("{\"web\": {\"vars\": [1]}}")),
        (
            "bad_priority",
            list_script("{\"web\": {\"vars\": {\"ansible_group_priority\": \"high\"}}}"),
        ),
        (
            "children_not_list",
            list_script("{\"web\": {\"children\": \"db\"}}"),
        ),
        (
            "children_loop",
            list_script("{\"a\": {\"children\": [\"b\"]}, \"b\": {\"children\": [\"a\"]}}"),
        ),
        ("meta_not_object", list_script("{\"_meta\": []}")),
        (
            "hostvars_not_object",
            list_script("{\"_meta\": {\"hostvars\": [\"web1\"]}}"),
        ),
        (
            "hostvar_not_object",
            list_script("{\"web\": [\"web1\"], \"_meta\": {\"hostvars\": {\"web1\": 3}}}"),
        ),
        (
            "host_fails",
            "#!/bin/sh\nif [ \"$1\" = --list ]; then echo '{\"web\": [\"web1\"]}'; \
             else echo \"no such host: $2\" >&2; exit 4; fi\n"
                .into(),
        ),
        (
            "host_invalid_json",
            "#!/bin/sh\nif [ \"$1\" = --list ]; then echo '{\"web\": [\"web1\"]}'; \
             else echo 'web1 vars'; fi\n"
                .into(),
        ),
        (
            "host_not_object",
            "#!/bin/sh\nif [ \"$1\" = --list ]; then echo '{\"web\": [\"web1\"]}'; \
             else echo '[1]'; fi\n"
                .into(),
        ),
        (
            "missing_interpreter",
            "#!/nonexistent/interpreter\n{}\n".into(),
        ),
    ];
    let mut out = Vec::new();
    for (name, body) in cases {
        let path = root.join(name);
        write_script(&path, body);
        let err = match load_path(&path) {
            Ok(_) => panic!("{name}: expected an error"),
            Err(e) => e,
        };
        let ok = match *name {
            "fails" | "fails_silently" | "host_fails" => {
                matches!(err, InventoryError::ScriptFailed { .. })
            }
            "invalid_json" | "truncated_json" | "host_invalid_json" => {
                matches!(err, InventoryError::ScriptJson { .. })
            }
            "missing_interpreter" => matches!(err, InventoryError::ScriptNotRunnable { .. }),
            _ => matches!(err, InventoryError::ScriptShape { .. }),
        };
        assert!(ok, "{name}: {err:?}");
        out.push(
            err.to_string()
                .replace(&root.display().to_string(), "<dir>"),
        );
    }

    // A `#!` file without the executable bit is not run, and says why.
    let plain = root.join("not_executable");
    write(&plain, &list_script("{}"));
    let err = load_path(&plain).err();
    assert!(
        matches!(err, Some(InventoryError::ScriptNotRunnable { .. })),
        "{err:?}"
    );
    if let Some(err) = err {
        out.push(
            err.to_string()
                .replace(&root.display().to_string(), "<dir>"),
        );
    }
    insta::assert_snapshot!(out.join("\n"));
}

/// Vaulted inventory files, vaulted `group_vars` files and inline `!vault` values in
/// `host_vars` are decrypted with the installed keyring; without the password the load fails
/// naming the file. (The only test in this crate that installs a keyring.)
#[test]
fn vaulted_inventory_and_vars_files() {
    let secret = tend_vault::Secret::new("pw");
    let vaulted = |text: &str| tend_vault::encrypt(text.as_bytes(), &secret, None).expect("enc");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        &root.join("hosts.ini"),
        &vaulted("[web]\nw1 ansible_port=2222\n"),
    );
    write(
        &root.join("group_vars/web.yml"),
        &vaulted("db_password: hunter2\n"),
    );
    let inline = tend_vault::encrypt(b"api-key", &secret, Some("prod")).expect("enc");
    let indented: String = inline.lines().map(|l| format!("  {l}\n")).collect();
    write(
        &root.join("host_vars/w1.yml"),
        &format!("api: !vault |\n{indented}"),
    );
    let source = root.join("hosts.ini").to_string_lossy().into_owned();

    tend_vault::install(tend_vault::Keyring::new());
    let err = Inventory::load(&source)
        .expect_err("no password")
        .to_string();
    assert!(err.contains("hosts.ini"), "{err}");
    assert!(
        err.contains("Attempting to decrypt but no vault secrets found."),
        "{err}"
    );

    let mut ring = tend_vault::Keyring::new();
    ring.add("prod", secret.clone());
    tend_vault::install(ring);
    let inv = Inventory::load(&source).expect("load");
    let vars = inv.host_vars("w1");
    assert_eq!(vars.get("ansible_port"), Some(&json!(2222)));
    assert_eq!(vars.get("db_password"), Some(&json!("hunter2")));
    assert_eq!(vars.get("api"), Some(&json!("api-key")));

    // The group_vars file alone undecryptable: the error names it.
    write(
        &root.join("group_vars/web.yml"),
        &tend_vault::encrypt(b"x: 1\n", &tend_vault::Secret::new("other"), None).expect("enc"),
    );
    let err = Inventory::load(&source)
        .expect_err("wrong password")
        .to_string();
    assert!(err.contains("group_vars/web.yml"), "{err}");
    assert!(
        err.contains("Decryption failed (no vault secrets were found that could decrypt)."),
        "{err}"
    );
}
