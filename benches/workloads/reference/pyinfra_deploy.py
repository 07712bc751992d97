# pyinfra equivalent of reference/playbook.yml (same files, same content, same modes).
# From shared/bench/pyinfra_deploy.py; only changes: templates render with trim_blocks as
# Ansible's template module does, and the block carries Ansible's markers, so the final state
# equals ansible-playbook's.
from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server

base = "/srv/bench"
name = host.name
files.directory(name="base dir", path=base, mode="755")
for i in range(1, 6):
    files.directory(name=f"conf{i}", path=f"{base}/conf{i}", mode="750")
for i in range(1, 6):
    files.put(name=f"static{i}", src=StringIO(f"static {i} for {name}\n"), dest=f"{base}/conf{i}/static.txt", mode="644")
for i in range(1, 6):
    files.template(name=f"tpl{i}", src="app.conf.j2", dest=f"{base}/conf{i}/app.conf", mode="640",
                   jinja_env_kwargs={"trim_blocks": True},
                   app="demo", settings={"port": 8080, "workers": 4, "debug": False}, inventory_hostname=name)
for l in "abcde":
    files.line(name=f"line {l}", path=f"{base}/conf1/static.txt", line=f"line {l}")
files.block(name="block", path=f"{base}/conf2/static.txt", content="key=value\nother=thing",
            marker="# {mark} ANSIBLE MANAGED BLOCK")
server.shell(name="one-time", commands=[f"test -e {base}/marker || touch {base}/marker"])
server.shell(name="check", commands=[f"cat {base}/conf1/app.conf"])
for i in range(1, 6):
    files.link(name=f"link{i}", path=f"{base}/app{i}.conf", target=f"{base}/conf{i}/app.conf")
