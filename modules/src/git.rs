//! `git`: clone a repository and keep a checkout at a version, with `git` on the host.
//!
//! ```yaml
//! - name: Deploy the app at a tag
//!   ansible.builtin.git:
//!     repo: https://git.example.com/app.git
//!     dest: /srv/app
//!     version: v1.4.2
//!
//! - name: A shallow clone of a branch, local changes thrown away
//!   ansible.builtin.git:
//!     repo: /srv/mirror/tools.git
//!     dest: /opt/tools
//!     version: main
//!     depth: 1
//!     force: yes
//! ```
//!
//! Ansible's module, step for step, as `sh` on the host: a missing `dest` is cloned
//! (`--origin <remote>`, or `--bare`; `depth`/`single_branch` with `--branch` for a branch or
//! tag) and the version checked out; an existing one is fetched (`git fetch --tags`, refspecs
//! for `depth`) after its remote URL is set to `repo`, then `version` is checked out: `HEAD`
//! (the remote's default branch, reset hard to it), a branch (tracked, reset hard to the
//! remote's), or a tag or commit (`checkout --force`). Local modifications fail the task
//! unless `force` (then `reset --hard`). `update: no` only reports the current commit;
//! `clone: no` never clones. A local path as `repo` becomes `file://<path>`.
//!
//! Returns `before` (null before a clone), `after`, `remote_url_changed` when updating, and
//! `changed` when the commit, the remote URL or local modifications changed. Check mode asks
//! the remote (`git ls-remote`) for the commit the version names and reports what would change,
//! as Ansible. `--diff` shows Ansible's prepared text (`>> Newly checked out <sha>` or
//! `git diff before after`).
//!
//! Not supported (refused when set): submodules (`recursive` on a repository that has
//! `.gitmodules`), `verify_commit`, `archive`, `separate_git_dir`, `reference`.

use async_trait::async_trait;
use serde::Deserialize;
use tend_module_api::{quote, Context, Diff, Module, ModuleError, Outcome, Planned};

use crate::attrs::{self, Report};

fn yes() -> bool {
    true
}

fn head() -> String {
    "HEAD".into()
}

fn origin() -> String {
    "origin".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitParams {
    /// The repository URL or path.
    #[serde(alias = "name")]
    pub repo: String,
    /// Where the checkout goes.
    pub dest: Option<String>,
    /// Branch, tag or commit to check out; `HEAD`: the remote's default branch.
    #[serde(default = "head")]
    pub version: String,
    /// The remote's name.
    #[serde(default = "origin")]
    pub remote: String,
    /// An extra refspec to fetch.
    pub refspec: Option<String>,
    /// Throw away local modifications.
    #[serde(default)]
    pub force: bool,
    /// Shallow clone with this many commits.
    pub depth: Option<u32>,
    /// Clone when `dest` has no repository.
    #[serde(default = "yes")]
    pub clone: bool,
    /// Fetch and check out the version in an existing repository.
    #[serde(default = "yes")]
    pub update: bool,
    /// A bare repository.
    #[serde(default)]
    pub bare: bool,
    /// Clone only the history of `version`.
    #[serde(default)]
    pub single_branch: bool,
    /// Accept unknown SSH host keys (`StrictHostKeyChecking=no`).
    #[serde(default)]
    pub accept_hostkey: bool,
    /// Accept unknown SSH host keys, but not changed ones.
    #[serde(default)]
    pub accept_newhostkey: bool,
    /// Options for `ssh` (`GIT_SSH_COMMAND`).
    pub ssh_opts: Option<String>,
    /// The SSH private key to use.
    pub key_file: Option<String>,
    /// Update submodules (only refused when the repository has some).
    #[serde(default = "yes")]
    pub recursive: bool,
    /// Track submodules' branches (submodules are not supported).
    #[serde(default)]
    pub track_submodules: bool,
    /// The `git` program.
    pub executable: Option<String>,
    /// The umask for git's commands (an octal string).
    pub umask: Option<String>,
    /// Not supported.
    #[serde(default)]
    pub verify_commit: bool,
    /// Not supported.
    pub archive: Option<String>,
    /// Not supported.
    pub separate_git_dir: Option<String>,
    /// Not supported.
    pub reference: Option<String>,
    /// Allowed GPG fingerprints for `verify_commit` (not supported).
    #[serde(default, alias = "gpg_whitelist")]
    pub gpg_allowlist: Vec<String>,
}

/// What the query found.
#[derive(Debug, Default)]
pub struct GitObserved {
    report: Report,
}

#[derive(Debug)]
pub struct GitAction;

pub struct GitModule;

impl GitParams {
    /// `repo`, with a local path made a `file://` URL as Ansible does.
    fn repo_url(&self) -> String {
        if self.repo.starts_with('/') {
            format!("file://{}", self.repo)
        } else {
            self.repo.clone()
        }
    }

    fn check_supported(&self) -> Result<(), ModuleError> {
        let unsupported = [
            ("verify_commit", self.verify_commit),
            ("archive", self.archive.is_some()),
            ("separate_git_dir", self.separate_git_dir.is_some()),
            ("reference", self.reference.is_some()),
        ];
        if let Some((name, _)) = unsupported.iter().find(|(_, set)| *set) {
            return Err(ModuleError::failed(format!(
                "git: `{name}` is not supported by tend yet"
            )));
        }
        if self.dest.is_none() && self.clone {
            return Err(ModuleError::failed(
                "the destination directory must be specified unless clone=no",
            ));
        }
        if let Some(u) = &self.umask {
            if u32::from_str_radix(u, 8).is_err() {
                return Err(ModuleError::failed("umask must be an octal integer"));
            }
        }
        Ok(())
    }

    /// Shell variables and functions every script starts with.
    fn prelude(&self, check_mode: bool) -> String {
        let _ = &self.gpg_allowlist;
        let mut s = String::new();
        if let Some(u) = &self.umask {
            s.push_str(&format!("umask {}; ", quote(u)));
        }
        s.push_str(&format!(
            "git={}; repo={}; remote={}; version={}; depth={}; check={}; ",
            quote(self.executable.as_deref().unwrap_or("git")),
            quote(&self.repo_url()),
            quote(&self.remote),
            quote(&self.version),
            self.depth.map(|d| d.to_string()).unwrap_or_default(),
            if check_mode { "1" } else { "" },
        ));
        // GIT_SSH_COMMAND from key_file/ssh_opts/accept_hostkey, as Ansible's ssh wrapper.
        let mut ssh_opts = self.ssh_opts.clone();
        for (flag, opt) in [
            (self.accept_hostkey, "-o StrictHostKeyChecking=no"),
            (self.accept_newhostkey, "-o StrictHostKeyChecking=accept-new"),
        ] {
            if flag {
                ssh_opts = Some(match ssh_opts {
                    Some(o) if o.contains("StrictHostKeyChecking") => o,
                    Some(o) => format!("{o} {opt}"),
                    None => opt.to_string(),
                });
            }
        }
        if ssh_opts.is_some() || self.key_file.is_some() {
            let mut cmd = String::from("ssh");
            if let Some(k) = &self.key_file {
                cmd.push_str(&format!(" -i {} -o IdentitiesOnly=yes", quote(k)));
            }
            if let Some(o) = &ssh_opts {
                cmd.push(' ');
                cmd.push_str(o);
            }
            s.push_str(&format!(
                "GIT_SSH_COMMAND={}; export GIT_SSH_COMMAND; ",
                quote(&cmd)
            ));
        }
        match &self.dest {
            Some(d) => {
                s.push_str(&attrs::assign("d", d));
                s.push_str("case \"$d\" in /*) ;; *) d=\"$PWD/$d\";; esac; ");
            }
            None => s.push_str("d=; "),
        }
        s.push_str(if self.bare {
            "bare=1; rp=\"$d\"; "
        } else {
            "bare=; rp=\"$d/.git\"; "
        });
        s.push_str(FUNCTIONS);
        s
    }
}

/// Shell versions of the Ansible module's helpers. `die` reports a failure and stops.
const FUNCTIONS: &str = r#"
die() { printf 'fail:%s\n' "$1"; exit 0; }
run() { out=$("$@" 2>"$__e") ; rc=$?; err=$(cat "$__e"); return $rc; }
__e=$(mktemp) || exit 1; trap 'rm -f -- "$__e"' EXIT HUP INT TERM
if [ -f "$rp" ]; then
  gd=$(sed -n 's/^gitdir: //p' "$rp"); case "$gd" in /*) rp="$gd";; *) rp="$d/$gd";; esac
fi
is_remote_branch() { # remote version
  run "$git" ls-remote "$1" -h "refs/heads/$2" || die "$err"
  case "$out" in *"$2"*) return 0;; esac; return 1
}
is_remote_tag() {
  run "$git" ls-remote "$1" -t "refs/tags/$2" || die "$err"
  case "$out" in *"$2"*) return 0;; esac; return 1
}
head_splitter() { # file
  [ -f "$1" ] || return 1
  line=$(head -n 1 "$1"); line=$(printf '%s' "$line" | sed "s#refs/remotes/$remote##")
  ref=${line##* }; printf '%s' "$ref" | awk -F/ '{ if (NF >= 3) { s=$3; for (i=4;i<=NF;i++) s=s "/" $i; print s } else print $NF }'
}
head_branch() {
  hf="$rp/HEAD"
  if "$git" branch --no-color -a 2>/dev/null | grep -E '^\* .*(no branch|detached from|detached at)' >/dev/null; then
    hf="$rp/refs/remotes/$remote/HEAD"
  fi
  b=$(head_splitter "$hf") || die "Current repo does not have a valid reference to a separate Git dir or it refers to the invalid path"
  printf '%s' "$b"
}
remote_head() { # remote cloning(1/'')
  tag=
  if [ "$version" = HEAD ]; then
    if [ -n "$2" ]; then run "$git" ls-remote "$1" -h HEAD || die "$err"
    else hb=$(cd "$d" && head_branch); run "$git" ls-remote "$1" -h "refs/heads/$hb" || die "$err"; fi
  elif is_remote_branch "$1" "$version"; then run "$git" ls-remote "$1" -h "refs/heads/$version" || die "$err"
  elif is_remote_tag "$1" "$version"; then tag=1; run "$git" ls-remote "$1" -t "refs/tags/$version*" || die "$err"
  else printf '%s' "$version"; return 0; fi
  [ -n "$out" ] || die "Could not determine remote revision for $version"
  if [ -n "$tag" ]; then
    pick=
    pick=$(printf '%s\n' "$out" | awk -v v="$version" '{ if ($2 ~ /\^\{\}$/ && substr($2, length($2)-length(v)-2) == v "^{}") { p=$0; found=1 } else if (!found && substr($2, length($2)-length(v)+1) == v) p=$0 } END { print p }')
    [ -n "$pick" ] && out=$pick
  fi
  printf '%s' "$out" | head -n 1 | awk '{print $1}'
}
local_mods() {
  [ -z "$bare" ] || return 1
  n=$(cd "$d" && "$git" status --porcelain 2>/dev/null | grep -v '^??' | wc -l)
  [ "$n" -gt 0 ]
}
"#;

/// The query: what is at `dest`, and in check mode what the remote has.
const QUERY: &str = r#"
if [ -n "$d" ] && [ ! -e "$rp/config" ] || [ -z "$d" ]; then
  echo state:absent
  if [ -n "$check" ] || [ -n "$noclone" ]; then
    h=$(remote_head "$repo" 1); case "$h" in fail:*) printf '%s\n' "$h"; exit 0;; esac
    printf 'head:%s\n' "$h"
  fi
  exit 0
fi
echo state:present
printf 'before:%s\n' "$(cd "$d" && "$git" rev-parse HEAD 2>/dev/null)"
[ -n "$update" ] || exit 0
if local_mods; then echo localmods; fi
url=$(cd "$d" && "$git" ls-remote --get-url "$remote" 2>/dev/null) && printf 'url:%s\n' "$url"
if [ -n "$check" ]; then
  h=$(cd "$d" && remote_head "$remote" ''); case "$h" in fail:*) printf '%s\n' "$h"; exit 0;; esac
  printf 'head:%s\n' "$h"
fi
"#;

/// The run: clone or fetch, then check out the version.
const APPLY: &str = r#"
switch_version() {
  cd "$d" || die "cannot enter $d"
  if [ "$version" = HEAD ]; then
    br=$(head_branch)
    run "$git" checkout --force "$br" || die "Failed to checkout branch $br"
    run "$git" reset --hard "$remote/$br" -- || die "Failed to checkout branch $br"
  elif is_remote_branch "$remote" "$version"; then
    if [ -n "$depth" ] && ! is_local_branch "$version"; then
      run "$git" fetch "--depth=$depth" "$remote" "+refs/heads/$version:refs/heads/$version" "+refs/heads/$version:refs/remotes/$remote/$version" \
        || die "Failed to fetch branch from remote: $version"
    fi
    if ! is_local_branch "$version"; then
      run "$git" checkout --track -b "$version" "$remote/$version" || die "Failed to checkout $version"
    else
      run "$git" checkout --force "$version" || die "Failed to checkout branch $version"
      run "$git" reset --hard "$remote/$version" || die "Failed to checkout $version"
    fi
  else
    run "$git" checkout --force "$version" || die "Failed to checkout $version"
  fi
}
is_local_branch() {
  "$git" branch --no-color -a 2>/dev/null | sed 's/^ *//; s/ *$//' | grep -x -e "$1" -e "\* $1" >/dev/null
}
do_fetch() {
  cd "$d" || die "cannot enter $d"
  set -- fetch
  refs=
  if [ -n "$depth" ]; then
    cur=$(head_branch)
    if [ -n "$refspec" ]; then refs="$refspec"
    elif [ "$version" = HEAD ]; then refs="$cur"
    elif is_remote_branch "$repo" "$version"; then
      [ "$cur" = "$version" ] || refs="+refs/heads/$version:refs/heads/$version"
      refs="$refs +refs/heads/$version:refs/remotes/$remote/$version"
    elif is_remote_tag "$repo" "$version"; then refs="+refs/tags/$version:refs/tags/$version"
    fi
    [ -z "$refs" ] || set -- "$@" --depth "$depth"
  fi
  if [ -z "$depth" ] || [ -z "$refs" ]; then
    if [ -n "$bare" ]; then refs='+refs/heads/*:refs/heads/* +refs/tags/*:refs/tags/*'
    else set -- "$@" --tags; refs=; fi
    [ -z "$refspec" ] || refs="$refs $refspec"
  fi
  [ -z "$force" ] || set -- "$@" --force
  # Refspecs hold no spaces: split them on purpose.
  run "$git" "$@" "$remote" $refs || die "Failed to download remote objects and refs: $out $err"
}
if [ -n "$d" ] && [ ! -e "$rp/config" ]; then
  mkdir -p "$(dirname "$d")" 2>/dev/null
  set -- clone
  if [ -n "$bare" ]; then set -- "$@" --bare; else set -- "$@" --origin "$remote"; fi
  bt=
  if is_remote_branch "$repo" "$version" || is_remote_tag "$repo" "$version"; then bt=1; fi
  if [ -n "$depth" ]; then
    if [ "$version" = HEAD ] || [ -n "$refspec" ]; then set -- "$@" --depth "$depth"
    elif [ -n "$bt" ]; then set -- "$@" --depth "$depth" --branch "$version"
    else echo "warn:Ignoring depth argument. Shallow clones are only available for HEAD, branches, tags or in combination with refspec."; fi
  fi
  if [ -n "$single" ]; then set -- "$@" --single-branch; [ -z "$bt" ] || set -- "$@" --branch "$version"; fi
  cd "$(dirname "$d")" || die "cannot enter $(dirname "$d")"
  run "$git" "$@" "$repo" "$d" || die "$err"
  if [ -n "$bare" ] && [ "$remote" != origin ]; then (cd "$d" && "$git" remote add "$remote" "$repo") || die "cannot add remote $remote"; fi
  if [ -n "$refspec" ]; then
    if [ -n "$depth" ]; then (cd "$d" && run "$git" fetch --depth "$depth" "$remote" "$refspec") || die "Failed to fetch $refspec"
    else (cd "$d" && run "$git" fetch "$remote" "$refspec") || die "Failed to fetch $refspec"; fi
  fi
  echo cloned
else
  before=$(cd "$d" && "$git" rev-parse HEAD 2>/dev/null)
  printf 'before:%s\n' "$before"
  if local_mods; then
    [ -n "$force" ] || die "Local modifications exist in the destination: $d (force=no)."
    (cd "$d" && "$git" reset --hard HEAD >/dev/null 2>&1) || die "cannot reset $d"
    echo localmods
  fi
  url=$(cd "$d" && "$git" ls-remote --get-url "$remote" 2>/dev/null); urc=$?
  if [ "$url" != "$repo" ] && [ "${url%/}" != "${repo%/}" ]; then
    (cd "$d" && "$git" remote set-url "$remote" "$repo" >/dev/null 2>&1) || die "Failed to set a new url $repo for $remote"
    [ $urc -ne 0 ] || [ -z "$url" ] || echo urlchanged
  fi
  do_fetch
fi
if [ -z "$bare" ]; then (switch_version) | grep '^fail:' && exit 0; fi
if [ -z "$bare" ] && [ -n "$recursive" ] && [ -f "$d/.gitmodules" ]; then die "git: submodules are not supported by tend yet"; fi
printf 'after:%s\n' "$(cd "$d" && "$git" rev-parse HEAD 2>/dev/null)"
"#;

#[async_trait]
impl Module for GitModule {
    type Params = GitParams;
    type Observed = GitObserved;
    type Action = GitAction;

    const NAME: &'static str = "git";

    async fn query(&self, params: &GitParams, ctx: &Context<'_>) -> Result<GitObserved, ModuleError> {
        params.check_supported()?;
        let mut script = params.prelude(ctx.check_mode);
        script.push_str(&format!(
            "update={}; noclone={}; ",
            if params.update { "1" } else { "" },
            if params.clone { "" } else { "1" }
        ));
        script.push_str(QUERY);
        let report = attrs::run(ctx.host, &script).await?;
        if let Some(msg) = report.get("fail") {
            return Err(ModuleError::failed(msg));
        }
        Ok(GitObserved { report })
    }

    fn plan(
        &self,
        params: &GitParams,
        observed: GitObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<GitAction>, ModuleError> {
        let r = &observed.report;
        let before = r.get("before").filter(|b| !b.is_empty()).map(str::to_string);
        if r.get("state") == Some("absent") {
            if ctx.check_mode || !params.clone {
                let after = r.get("head").unwrap_or("").to_string();
                let outcome = Outcome::changed()
                    .with_value("before", serde_json::Value::Null)
                    .with_value("after", after.clone())
                    .with_diff(prepared(&format!(">> Newly checked out {after}")));
                return Ok(if ctx.check_mode {
                    Planned::Change {
                        action: GitAction,
                        preview: outcome,
                    }
                } else {
                    Planned::Done(outcome)
                });
            }
            return Ok(Planned::Change {
                action: GitAction,
                preview: Outcome::changed(),
            });
        }
        if !params.update {
            let b = before.clone().unwrap_or_default();
            return Ok(Planned::Done(
                Outcome::ok()
                    .with_value("before", b.clone())
                    .with_value("after", b),
            ));
        }
        let local_mods = r.has("localmods");
        if local_mods && !params.force {
            let mut values = serde_json::Map::new();
            values.insert("before".into(), before.clone().into());
            return Err(ModuleError::Failed {
                msg: format!(
                    "Local modifications exist in the destination: {} (force=no).",
                    params.dest.as_deref().unwrap_or("")
                ),
                values,
            });
        }
        if ctx.check_mode {
            let url = r.get("url");
            let repo = params.repo_url();
            let url_changed =
                url.is_some_and(|u| !u.is_empty() && u.trim_end_matches('/') != repo.trim_end_matches('/'));
            let after = r.get("head").unwrap_or("").to_string();
            let changed = before.as_deref() != Some(after.as_str()) || url_changed;
            let mut outcome = if changed {
                Outcome::changed()
            } else {
                Outcome::ok()
            }
            .with_value("before", before.clone())
            .with_value("after", after.clone())
            .with_value("remote_url_changed", url_changed);
            if local_mods {
                outcome.changed = true;
            }
            return Ok(if outcome.changed {
                Planned::Change {
                    action: GitAction,
                    preview: outcome,
                }
            } else {
                Planned::Done(outcome)
            });
        }
        Ok(Planned::Change {
            action: GitAction,
            preview: Outcome::changed(),
        })
    }

    async fn apply(
        &self,
        params: &GitParams,
        _action: GitAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let mut script = params.prelude(false);
        script.push_str(&format!(
            "force={}; single={}; recursive={}; refspec={}; ",
            if params.force { "1" } else { "" },
            if params.single_branch { "1" } else { "" },
            if params.recursive { "1" } else { "" },
            quote(params.refspec.as_deref().unwrap_or("")),
        ));
        let _ = params.track_submodules;
        script.push_str(APPLY);
        let report = attrs::run(ctx.host, &script).await?;
        let before = report
            .get("before")
            .filter(|b| !b.is_empty())
            .map(str::to_string);
        let warnings: Vec<String> = report.all("warn").map(str::to_string).collect();
        if let Some(msg) = report.get("fail") {
            let mut values = serde_json::Map::new();
            values.insert("before".into(), before.clone().into());
            return Err(ModuleError::Failed {
                msg: msg.to_string(),
                values,
            });
        }
        let after = report.get("after").unwrap_or("").to_string();
        let cloned = report.has("cloned");
        let local_mods = report.has("localmods");
        let url_changed = report.has("urlchanged");
        let changed = cloned || before.as_deref() != Some(after.as_str()) || local_mods || url_changed;
        let mut outcome = if changed {
            Outcome::changed()
        } else {
            Outcome::ok()
        };
        outcome.warnings = warnings;
        outcome.values.insert("before".into(), before.clone().into());
        outcome.values.insert("after".into(), after.clone().into());
        if !cloned {
            outcome
                .values
                .insert("remote_url_changed".into(), url_changed.into());
        }
        if local_mods {
            outcome.msg = Some(format!(
                "Local modifications exist in the destination: {}",
                params.dest.as_deref().unwrap_or("")
            ));
        }
        if changed && ctx.diff {
            let text = match &before {
                None => format!(">> Newly checked out {after}"),
                Some(b) if *b != after => {
                    let out = ctx
                        .host
                        .sh(&format!(
                            "{}cd \"$d\" && \"$git\" diff {} {}",
                            params.prelude(false),
                            quote(b),
                            quote(&after)
                        ))
                        .await?;
                    let diff = out.stdout_lossy();
                    if !out.success() {
                        format!(">> Failed to get proper diff between {b} and {after}")
                    } else if diff.is_empty() {
                        format!(">> No visual differences between {b} and {after}")
                    } else {
                        diff
                    }
                }
                Some(_) => String::new(),
            };
            if !text.is_empty() {
                outcome.diffs.push(prepared(&text));
            }
        }
        Ok(outcome)
    }
}

tend_module_api::register_module!(GitModule);

/// Ansible's `prepared` diff: text shown as is.
pub(crate) fn prepared(text: &str) -> Diff {
    Diff {
        before_header: String::new(),
        after_header: String::new(),
        before: String::new(),
        after: if text.ends_with('\n') {
            text.to_string()
        } else {
            format!("{text}\n")
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    fn sh(dir: &std::path::Path, script: &str) {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .expect("sh");
        assert!(status.success(), "{script}");
    }

    fn rev(dir: &std::path::Path, what: &str) -> String {
        let out = std::process::Command::new("git")
            .args(["rev-parse", what])
            .current_dir(dir)
            .output()
            .expect("git");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[tokio::test]
    async fn clones_updates_and_checks_out_versions() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        sh(
            root,
            "git init -q -b main work && cd work && echo one > f && git add f && git commit -qm one && git tag v1 \
             && echo two > f && git commit -qam two && cd .. && git clone -q --bare work repo.git",
        );
        let repo = root.join("repo.git").to_string_lossy().to_string();
        let dest = root.join("co").to_string_lossy().to_string();
        let c = FakeController::new(root);
        let args = json!({"repo": repo, "dest": dest});
        let check = run_module("git", args.clone(), &c, true).await.expect("check");
        assert!(check.changed);
        let head = rev(&root.join("work"), "HEAD");
        assert_eq!(check.values["after"], head.as_str());
        assert!(!root.join("co").exists());
        let out = run_module("git", args.clone(), &c, false).await.expect("clone");
        assert!(out.changed);
        assert_eq!(out.values["before"], serde_json::Value::Null);
        assert_eq!(out.values["after"], head.as_str());
        let again = run_module("git", args.clone(), &c, false).await.expect("again");
        assert!(!again.changed, "{again:?}");
        let check = run_module("git", args.clone(), &c, true).await.expect("check");
        assert!(!check.changed);

        let v1 = json!({"repo": repo, "dest": dest, "version": "v1"});
        let out = run_module("git", v1.clone(), &c, false).await.expect("tag");
        assert!(out.changed);
        assert_eq!(std::fs::read_to_string(root.join("co/f")).expect("f"), "one\n");
        assert!(!run_module("git", v1, &c, false).await.expect("tag again").changed);

        std::fs::write(root.join("co/f"), "local\n").expect("write");
        let e = run_module("git", args.clone(), &c, false)
            .await
            .expect_err("local mods");
        assert!(e.to_string().starts_with("Local modifications exist"), "{e}");
        let forced = json!({"repo": repo, "dest": dest, "force": true});
        let out = run_module("git", forced, &c, false).await.expect("force");
        assert!(out.changed);
        assert_eq!(std::fs::read_to_string(root.join("co/f")).expect("f"), "two\n");

        let no_update = json!({"repo": repo, "dest": dest, "update": false, "version": "v1"});
        let out = run_module("git", no_update, &c, false).await.expect("no update");
        assert!(!out.changed);
        assert_eq!(out.values["after"], head.as_str());
    }
}
