# pyinfra equivalent of large/playbook.yml: the same files, contents and modes, and a re-run
# changes nothing but the shell operations (pyinfra counts every one as a change).
# lineinfile/blockinfile's `mode` is a files.file operation here: pyinfra's block creates 0600.
from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server

base = "/srv/bench-large"
name = host.name
settings = {"port": 8080, "workers": 4, "debug": False}
files.directory(name="base dir", path=base, mode="755")
for i in range(1, 21):
    files.directory(name=f"d{i}", path=f"{base}/d{i}", mode="750")
for i in range(1, 21):
    files.put(name=f"id {i}", src=StringIO(f"dir {i} on {name}\n"), dest=f"{base}/d{i}/id.txt", mode="644")
for i in range(1, 21):
    files.put(name=f"limits {i}", src=StringIO(f"# limits for d{i}\nsoft = {i * 100}\nhard = {i * 200}\n"),
              dest=f"{base}/d{i}/limits.conf", mode="600")
for i in range(1, 11):
    files.put(name=f"motd {i}", src="files/motd.txt", dest=f"{base}/d{i}/motd", mode="644")
for i in range(1, 21):
    files.template(name=f"app {i}", src="app.conf.j2", dest=f"{base}/d{i}/app.conf", mode="640",
                   jinja_env_kwargs={"trim_blocks": True},
                   app="large", settings=settings, inventory_hostname=name, item=i)
for i in range(1, 11):
    for w in ("alpha", "beta", "gamma"):
        files.line(name=f"allow {i} {w}", path=f"{base}/d{i}/hosts.allow", line=f"allow {w}")
    files.file(name=f"allow mode {i}", path=f"{base}/d{i}/hosts.allow", mode="644")
for i in range(1, 11):
    files.block(name=f"block {i}", path=f"{base}/d{i}/block.cfg", content=f"key={i}\nowner={name}",
                marker="# {mark} ANSIBLE MANAGED BLOCK")
    files.file(name=f"block mode {i}", path=f"{base}/d{i}/block.cfg", mode="644")
for i in range(1, 21):
    files.link(name=f"link {i}", path=f"{base}/app{i}.conf", target=f"{base}/d{i}/app.conf")
for i in range(1, 21):
    files.file(name=f"obsolete {i}", path=f"{base}/d{i}/obsolete.tmp", present=False)
for i in range(1, 11):
    server.shell(name=f"init {i}", commands=[f"test -e {base}/d{i}/.initialized || touch {base}/d{i}/.initialized"])
for i in range(1, 11):
    server.shell(name=f"read {i}", commands=[f"grep -q 'port = 8080' {base}/d{i}/app.conf"])
server.shell(name="all initialized", commands=[f"test $(ls -A {base}/d*/.initialized | wc -l) -eq 10"])
