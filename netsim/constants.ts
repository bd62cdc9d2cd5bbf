/**
 * Every netsim limit and default in one place, each with its reason (STYLE.md §5).
 */

/** The lab's "internet": two documentation prefixes (RFC 5737), so nothing in a lab can be real. */
export const INTERNET_PREFIXES = ['203.0.113.0/24', '198.51.100.0/24'] as const;
/** Primary public addresses: 203.0.113.0/24 (TEST-NET-3). */
export const PUBLIC_NET = '203.0.113';
/** Alternate public addresses (RFC 5780 §4.1 needs a second IP on a server): 198.51.100.0/24. */
export const ALTERNATE_NET = '198.51.100';
/** Carrier-grade NAT's shared address space (RFC 6598): 100.64.0.0/10; one /24 per carrier NAT. */
export const CARRIER_NET = '100.64';

/** Host-number ranges inside 203.0.113.0/24, so every kind of node has a recognisable address. */
export const SERVER_HOST_BASE = 10;
export const INTERNET_HOST_BASE = 50;
export const NAT_WAN_HOST_BASE = 100;
/** Inside a NAT's LAN: the router is .1, hosts from .10, NATs behind a carrier NAT from .100. */
export const LAN_HOST_BASE = 10;
export const LAN_NAT_BASE = 100;

/** Bounds that keep every address above inside its /24 and the lab up in well under a second. */
export const MAX_SERVERS = 40;
export const MAX_INTERNET_HOSTS = 40;
export const MAX_NATS = 90;
export const MAX_HOSTS_PER_NAT = 80;

/** Node names become part of namespace names and log lines: short, lowercase, no surprises. */
export const NODE_NAME_RE = /^[a-z][a-z0-9-]{0,14}$/;
/** Lab names (the CLI's NAME): the same alphabet; they prefix every namespace of the lab. */
export const LAB_NAME_RE = /^[a-z0-9][a-z0-9-]{0,23}$/;
/** The tag from NATPUSH_NETSIM_TAG (a test run's id) is put verbatim into namespace names. */
export const TAG_RE = /^[a-z0-9]{1,12}$/;

/** Every namespace of every lab starts with this, so `ip netns list` shows which are ours. */
export const NAMESPACE_PREFIX = 'np';

/**
 * Linux's own conntrack UDP timeouts (nf_conntrack_udp_timeout / _stream): 30 s while a flow was
 * never answered, 120 s once it was. A preset keeps them unless `udpBindingTimeoutSec` is given.
 * RFC 4787 REQ-5 asks for at least 120 s; tests set a few seconds to watch a binding expire.
 */
export const LINUX_UDP_TIMEOUT_SEC = 30;
export const LINUX_UDP_STREAM_TIMEOUT_SEC = 120;
export const MAX_BINDING_TIMEOUT_SEC = 3600;

/** Delay handler: packets held at most this long, at most this many at once (tail drop beyond). */
export const MAX_DELAY_MS = 10_000;
export const MAX_HELD_PACKETS = 8192;
/** Loss is applied with `numgen random mod LOSS_SCALE`: 1e-6 resolution is plenty. */
export const LOSS_SCALE = 1_000_000;

/** Where lab records live, so `natpush netsim down --all` can clean up after a crash. */
export const DEFAULT_STATE_DIR = '/run/natpush-netsim';
/** Where the compiled delay handler is cached (compiled once per source version). */
export const DEFAULT_CACHE_DIR = '/var/cache/natpush-netsim';

/** Bounds on how long lab set-up steps and `exec` may take before we call them stuck. */
export const SETUP_STEP_TIMEOUT_MS = 20_000;
/** Linkwatch batches carrier events for up to 1 s; a bridge port later than this is a fault. */
export const BRIDGE_READY_TIMEOUT_MS = 3_000;
export const DEFAULT_EXEC_TIMEOUT_MS = 30_000;
/** Output kept from a command run by `exec`; more is an error rather than unbounded memory. */
export const MAX_EXEC_OUTPUT_BYTES = 16 * 1024 * 1024;

/**
 * miniupnpd's HTTP (UPnP description and SOAP) port in a lab NAT. Fixed, since each NAT is its
 * own namespace; 2869 is the port Windows' own UPnP host uses, so clients meet it in the wild.
 */
export const MINIUPNPD_HTTP_PORT = 2869;
/** Where per-lab runtime files (miniupnpd pid, leases, log) live: `<stateDir>/<lab>.d/`. */
export const LAB_RUN_DIR_SUFFIX = '.d';
