import { NatpushError } from '../src/util/errors.js';

/** Stable codes of netsim's operational errors (STYLE.md §7). */
export const NETSIM_ERR = {
  /** Not running as root: namespaces and netfilter need CAP_NET_ADMIN / CAP_SYS_ADMIN. */
  NOT_ROOT: 'NATPUSH_ERR_NETSIM_NOT_ROOT',
  /** A command netsim needs (ip, nft, iptables, conntrack, gcc, ...) is not installed. */
  MISSING_TOOL: 'NATPUSH_ERR_NETSIM_MISSING_TOOL',
  /** A lab of that name already exists. */
  LAB_EXISTS: 'NATPUSH_ERR_NETSIM_LAB_EXISTS',
  /** No lab of that name. */
  NO_SUCH_LAB: 'NATPUSH_ERR_NETSIM_NO_SUCH_LAB',
  /** A kernel/tool step of building the lab failed; the lab was torn down again. */
  SETUP_FAILED: 'NATPUSH_ERR_NETSIM_SETUP_FAILED',
  /** A command run with `exec` did not finish in time or printed too much. */
  EXEC_FAILED: 'NATPUSH_ERR_NETSIM_EXEC_FAILED',
  /** The lab was already destroyed. */
  DESTROYED: 'NATPUSH_ERR_NETSIM_DESTROYED',
} as const;

export type NetsimErrorCode = (typeof NETSIM_ERR)[keyof typeof NETSIM_ERR];

export class NetsimError extends NatpushError {
  constructor(code: NetsimErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'NetsimError';
  }
}
