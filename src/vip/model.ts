/**
 * The load-balancer model: what the agent knows of the services a sandbox can reach, as
 * the planner's input. One model is one nftables table in one network namespace.
 *
 * The agent builds it from the manager's assignment (services, their VIPs and ports) and
 * the network's endpoint view (tasks, their addresses and health). Services published
 * with `--endpoint-mode dnsrr` have no VIP and never appear here: the caller leaves them
 * out, and DNS answers with the task addresses instead.
 *
 * Treat every object handed to VipSyncer.sync() as immutable: the incremental path plans a
 * service again only when it is given a different object for that id (the syncer freezes
 * what it is given, so a mutation throws instead of going unnoticed). A full sync plans
 * everything from scratch.
 */

/** One backend: a task's address on the service's network. */
export interface VipBackend {
  /** IPv4 address, "10.0.1.5". */
  ip: string;
  /** The task runs and its health check passes (or it has none). Only healthy backends get
   * new connections; when a backend turns unhealthy its established connections are cut
   * (its conntrack entries deleted), so clients reconnect to a healthy one. */
  healthy: boolean;
  /**
   * The backend is leaving (scale-down, update, drain, service rm): it gets no new
   * connections, but its established ones are kept until it leaves the model, which is
   * when the task stops (the drain: leave every load balancer, wait for open
   * connections up to the stop grace period, then stop). Omitted = false.
   */
  draining?: boolean;
  /**
   * The backend's node is declared failed (a draining backend that cannot answer): once the
   * table stops sending it new connections, its conntrack entries that never saw a reply
   * are deleted. Such an entry is a SYN (or datagram) sent to it before the failure was
   * known, and it would catch a later connection from the same client port (the kernel
   * hands ports out again within seconds) and send it to the failed node as a retransmit.
   * Answered connections stay, as for any draining backend. Omitted = false.
   */
  lost?: boolean;
}

/**
 * One published port of a service, as the VIP sees it.
 *
 * `port: 0` with `targetPort: 0` is an every-port entry, Docker's VIP: a connection to
 * VIP:any-port of that protocol goes to a backend on the same port (the address alone is
 * translated, the destination port is kept; a port no backend listens on is refused by the
 * backend). A service may list an every-port entry and explicit ports of the same
 * protocol: the explicit ones are matched first and win for their port (their target port
 * applies there). One every-port entry per protocol; `port: 0` with another target, or a
 * target of 0 with another port, is a bad model (left out).
 */
export interface VipPort {
  protocol: 'tcp' | 'udp';
  /** The port on the VIP, 1-65535; 0 = every port (EVERY_PORT). */
  port: number;
  /** The port the tasks listen on, 1-65535; 0 with port 0 (the port kept). */
  targetPort: number;
}

export interface VipService {
  /** The service's id (the manager's); orders the services and names them in problems. */
  id: string;
  /** The service's virtual IP on this network, IPv4 ("10.0.1.2"). It must be routable from
   * the sandbox (the network's subnet holds it, as the manager allocates it). */
  vip: string;
  ports: VipPort[];
  backends: VipBackend[];
}

export interface VipModel {
  /** The nftables table (family ip) this model owns, e.g. `${prefix}lb`. */
  tableName: string;
  services: VipService[];
}
