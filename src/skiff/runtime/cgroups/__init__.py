"""cgroups v1 and v2 behind one small CgroupManager protocol (api.py), chosen
once by detect.new_manager(path, root="/sys/fs/cgroup")."""
