/**
 * Typed operational errors of the UDP network layer (STYLE.md §7). Misuse throws
 * TypeError/RangeError.
 */
export const NET_ERR = {
  /**
   * Datagrams the batched socket could not hand to the kernel (send buffer full, a refused
   * destination) or received longer than a slot (truncated): counted and dropped, never thrown.
   */
  UDP_DROPPED: 'NATPUSH_ERR_UDP_DROPPED',
} as const;
export type NetErrorCode = (typeof NET_ERR)[keyof typeof NET_ERR];
