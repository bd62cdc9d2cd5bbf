/**
 * Noticing that the remote moved after selection: an authenticated check came from a new source
 * (its NAT rebound, or its address changed). The move is reported only when OUR check to that
 * source is answered too, so a third party that replays a sniffed check from its own address
 * cannot trigger re-punches: it cannot sign the answer. One verification check at a time (a flood
 * of replays costs one transaction), and each new source is reported once (its consent checks
 * keep arriving until the path is re-punched).
 */
import type { Endpoint } from '../net/udp.js';
import { sameEndpoint } from '../net/udp.js';
import { StunClass } from '../stun/message-type.js';
import type { Role } from './check-message.js';
import type { CheckTransactions } from './check-transactions.js';
import type { CandidatePair } from './check-types.js';

export class RemoteMoveCheck {
  #pending = false;
  #movedTo: Endpoint | undefined;

  constructor(
    readonly out: CheckTransactions,
    /** The agent is closed or lost consent: verify nothing, report nothing. */
    readonly done: () => boolean,
    readonly onMoved: (to: Endpoint) => void,
  ) {}

  /** An authenticated check from `from` on the selected pair's base, not from its remote. */
  verify(selected: CandidatePair | undefined, from: Endpoint, role: Role): void {
    if (!selected || this.#pending || this.done()) return;
    if (this.#movedTo !== undefined && sameEndpoint(this.#movedTo, from)) return;
    const tx = this.out.engine(selected.base);
    if (!tx) return;
    const to = { address: from.address, port: from.port };
    this.#pending = true;
    this.out.probe(
      tx,
      selected,
      to,
      role,
      (res) => {
        this.#pending = false;
        if (this.done() || res.message.cls !== StunClass.Success) return;
        this.#movedTo = to;
        this.onMoved(to);
      },
      () => {
        this.#pending = false;
      },
    );
  }
}
