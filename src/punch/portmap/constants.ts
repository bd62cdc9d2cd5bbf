/**
 * Every port-mapping timer and bound in one place, each with its reason (STYLE.md §5).
 */

/** RFC 6886 §1.1 / RFC 6887 §19.1: NAT-PMP and PCP servers listen on UDP 5351. */
export const PCP_SERVER_PORT = 5351;
/** SSDP (UPnP Device Architecture 1.1 §1.1.2): multicast group and port. */
export const SSDP_ADDRESS = '239.255.255.250';
export const SSDP_PORT = 1900;

/**
 * RFC 6886 §3.1: first retransmission after 250 ms, doubling, up to 9 attempts (64 s in all).
 * A probe stops earlier (PROBE_TIMEOUT_MS): a gateway that has not answered in 4 attempts
 * (3.75 s) is treated as not speaking NAT-PMP, and the other protocols carry on.
 */
export const NATPMP_INITIAL_RTO_MS = 250;
export const NATPMP_MAX_ATTEMPTS = 9;

/**
 * RFC 6887 §8.1.1: IRT 3 s, MRT 1024 s, each interval randomised by ±10 % (RAND), no maximum
 * count. A probe gives up at PROBE_TIMEOUT_MS, so in practice: one send, one retransmit.
 */
export const PCP_IRT_MS = 3_000;
export const PCP_MRT_MS = 1_024_000;

/**
 * How long `map()` waits for any protocol before NO_GATEWAY: covers NAT-PMP's first four tries
 * (0.25 + 0.5 + 1 + 2 s) and PCP's first retransmission at ~3 s, and UPnP's MX of 2 s plus a
 * description fetch. Routers that answer at all answer in milliseconds on a LAN.
 */
export const PROBE_TIMEOUT_MS = 5_000;

/** UPnP DA 1.1 §1.3.2: MX is 1–5 s; 2 s keeps the probe short. Two M-SEARCHes 500 ms apart. */
export const SSDP_MX_SEC = 2;
export const SSDP_RESEND_MS = 500;
/** An SSDP answer is a few hundred bytes of headers; more is not an SSDP answer. */
export const MAX_SSDP_BYTES = 2_048;
/** SSDP answers looked at per probe (a LAN with many UPnP devices answers many times). */
export const MAX_SSDP_ANSWERS = 16;

/**
 * A device description of a real IGD is 2–10 kB (miniupnpd's is ~4 kB); SOAP answers are under
 * 1 kB. 64 kB leaves room for verbose vendors and bounds what a hostile router can make us hold.
 */
export const MAX_XML_BYTES = 64 * 1024;
/** Elements we look at in a description (services are nested 3 deep; 256 is generous). */
export const MAX_XML_SERVICES = 64;
/** One HTTP exchange with the IGD (connect, request, whole body). */
export const HTTP_TIMEOUT_MS = 3_000;

/**
 * Lifetime we ask for. RFC 6886 §3.3 recommends 7200 s for NAT-PMP; PCP servers clamp to their
 * own range (miniupnpd: 120–86400 s); UPnP IGD v2 forbids 0 (infinite) and caps at 604800 s.
 * Renewed at half the granted lifetime (RFC 6886 §3.3, RFC 6887 §11.2.1).
 */
export const DEFAULT_LIFETIME_SEC = 7_200;
/** Never renew more often than this, whatever lifetime a router grants (no renew floods). */
export const MIN_RENEW_INTERVAL_MS = 30_000;
/** After a failed renewal, try again after this long (bounded back-off, doubling). */
export const RENEW_RETRY_MS = 5_000;

/** The description miniupnpd / routers show for our UPnP mappings. */
export const UPNP_DESCRIPTION = 'natpush';
