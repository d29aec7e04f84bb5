"""The runtime's library interface, used in-process by the shim and by the
``skiff-runtime`` command (runc's command line). Implemented in
skiff.runtime.linux.container. Follows OCI runtime-spec runtime.md
(create / start / state / kill / delete) and runc's behaviour.

    create(root, container_id, bundle, *, stdio=None, console_socket=None,
           pid_file=None, no_pivot=False, preserve_fds=0) -> int
        Read ``bundle``/config.json, make the container's init process in its
        namespaces and cgroup, set up the rootfs, then leave it blocked on the
        exec fifo (``root``/<id>/exec.fifo). Returns the init's host pid.
        ``stdio`` = (stdin_fd, stdout_fd, stderr_fd) become the init's 0/1/2
        (None: inherit the caller's). With process.terminal, a pty is made in
        the container and its master fd sent over ``console_socket`` (SCM_RIGHTS),
        as runc. Raises Conflict (id exists), NotFound (bundle/config), and
        ExecError when process.args[0] cannot be executed, with runc's wording:
        'exec: "X": executable file not found in $PATH' (exit_code 127),
        'exec: "X": stat X: no such file or directory' (127),
        'exec: "X": permission denied' / 'is a directory' (126).
        The caller's process becomes the init's parent: the shim calls
        prctl(PR_SET_CHILD_SUBREAPER) first and reaps it.
    start(root, container_id) -> None       release the init: it execs process.args
    state(root, container_id) -> dict       runtime-spec state JSON
                                            (ociVersion, id, status, pid, bundle, annotations)
    kill(root, container_id, signal: int, all: bool = False) -> None
    delete(root, container_id, force: bool = False) -> None
                                            remove cgroup and state; force kills first
"""
