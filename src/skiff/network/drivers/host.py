"""The host driver: the container shares the host's network namespace
(build_spec(netns=None)); /etc/hosts and resolv.conf are the host's."""

NAME = "host"
