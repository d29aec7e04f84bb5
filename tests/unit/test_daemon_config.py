"""skiffd's flags and daemon.json merge (dockerd's names and rules)."""
import json

import pytest

from skiff.daemon.config import load
from skiff.errors import InvalidArgument


def test_defaults_without_file(tmp_path):
    cfg = load(["--config-file", str(tmp_path / "none.json")][:0] + [])  # no explicit file
    assert cfg.data_root == "/var/lib/skiff"
    assert cfg.exec_root == "/run/skiff"
    assert cfg.hosts == ["unix:///run/skiff/skiff.sock"]
    assert cfg.cgroup_parent == "/skiff"


def test_file_and_flags(tmp_path):
    f = tmp_path / "daemon.json"
    f.write_text(json.dumps({"registry-mirrors": ["http://127.0.0.1:5000"],
                             "insecure-registries": ["10.0.0.0/8"], "data-root": "/srv/skiff"}))
    cfg = load(["--config-file", str(f), "--exec-root", "/run/x", "-H", "unix:///run/x/s.sock"])
    assert cfg.registry_mirrors == ["http://127.0.0.1:5000"]
    assert cfg.insecure_registries == ["10.0.0.0/8"]
    assert cfg.data_root == "/srv/skiff"
    assert cfg.exec_root == "/run/x"
    assert cfg.hosts == ["unix:///run/x/s.sock"]


@pytest.mark.parametrize("content,msg", [
    ("{not json", "invalid json"),
    ('{"no-such-key": 1}', "unknown configuration keys: no-such-key"),
    ('["a"]', "top level must be an object"),
    ('{"registry-mirrors": ["127.0.0.1:5000"]}', "invalid mirror"),
])
def test_bad_files(tmp_path, content, msg):
    f = tmp_path / "daemon.json"
    f.write_text(content)
    with pytest.raises(InvalidArgument, match=msg):
        load(["--config-file", str(f)])


def test_explicit_missing_file(tmp_path):
    with pytest.raises(InvalidArgument, match="not found"):
        load(["--config-file", str(tmp_path / "missing.json")])


def test_flag_and_file_for_one_key_is_refused(tmp_path):
    f = tmp_path / "daemon.json"
    f.write_text('{"debug": true, "data-root": "/srv/x"}')
    with pytest.raises(InvalidArgument, match="specified both as a flag and in the configuration file: "
                                              "debug: \\(from flag: true, from file: true\\)"):
        load(["--config-file", str(f), "--debug"])
    with pytest.raises(InvalidArgument, match="data-root"):
        load(["--config-file", str(f), "--data-root", "/srv/y"])
