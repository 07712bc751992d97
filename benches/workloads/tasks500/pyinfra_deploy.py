# pyinfra equivalent of tasks500/playbook.yml: 500 directory operations over ten directories.
from pyinfra.operations import files

for i in range(500):
    files.directory(name=f"check {i}", path=f"/srv/bench-tasks/d{i % 10}", mode="755")
