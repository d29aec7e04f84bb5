"""Container networking (issue 4): Docker's bridge/host/none/container
modes and user-defined bridge networks, with skiff's own bridges, IPAM,
nftables rules and embedded DNS.

Modules:

* ``manager``  NetworkManager: networks (records in sqlite table
  ``networks``), container sandboxes (``sandboxes``), restore after a
  daemon restart, /etc/hosts and resolv.conf, the /networks API backend;
* ``netns``    named netns bind-mounted at <exec-root>/netns/<id>; running
  code inside one in a short-lived thread (setns is per thread);
* ``netlink``  bridges, veths, addresses, routes (the only pyroute2 user);
* ``firewall`` table ``inet skiff`` rebuilt atomically through
  ``nft -j -f -`` (JSON only): DNAT of published ports (route_localnet for
  127.0.0.1), masquerade, hairpin, isolation of networks, --internal; accept
  rules for our bridges in Docker's DOCKER-USER chain when dockerd runs;
* ``ipam``     subnets from default-address-pools skipping routed ones;
  addresses persisted in table ``ipam``; Docker's MAC from the IPv4 address;
* ``portmap``  PortBindings -> host ports held by bound sockets (so any
  other user of a port is detected: "port is already allocated");
* ``dns``      the per-container DNS server on 127.0.0.11:53 inside the
  container's netns, served from the daemon's event loop;
* ``drivers``  bridge link set-up; host and null have no link work.

Host names are per daemon: exec-root /run/skiff owns bridge ``skiff0`` and
table ``inet skiff``; another exec-root uses ``skiff0-<h>``/``skiff-<h>``
(h = 6 hex of sha256(exec-root)); bridges carry ifalias
"skiff:<exec-root>" and tables an ``owner`` rule with that comment, so a
daemon removes what daemons whose exec-root is gone left behind.
"""
