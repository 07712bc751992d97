# pyinfra inventory for a tend-lab: every host of $LAB_DIR/inventory.ini (name, ansible_host,
# ansible_user, ansible_ssh_private_key_file), checked against the lab's known_hosts.
import os

_lab = os.environ["LAB_DIR"]


def _hosts():
    with open(os.path.join(_lab, "inventory.ini")) as f:
        for raw in f:
            name, *pairs = raw.split() or [""]
            kv = dict(p.split("=", 1) for p in pairs if "=" in p)
            if "ansible_host" not in kv:
                continue
            yield name, {
                "ssh_hostname": kv["ansible_host"],
                "ssh_port": int(kv.get("ansible_port", 22)),
                "ssh_user": kv.get("ansible_user", "root"),
                "ssh_key": kv.get("ansible_ssh_private_key_file", os.path.join(_lab, "id_ed25519")),
                "ssh_known_hosts_file": os.path.join(_lab, "known_hosts"),
                "ssh_strict_host_key_checking": "yes",
            }


hosts = list(_hosts())
