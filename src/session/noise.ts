/**
 * The Noise Protocol Framework (revision 34, noiseprotocol.org/noise.html) for one cipher suite:
 * 25519 / ChaChaPoly / SHA256, handshake patterns IK, X and XX. Checked against the published
 * cacophony and snow test vectors (test/unit/session/noise.test.ts).
 *
 * natpush uses
 *   Noise_IK_25519_ChaChaPoly_SHA256  for peer sessions (secure-session.ts): the initiator knows the
 *                                     responder's static key (its peer id's Ed25519 key, converted).
 *   Noise_X_25519_ChaChaPoly_SHA256   for one-way sealed notifications (sealed.ts).
 *
 * Pure: no I/O. node:crypto supplies X25519, ChaCha20-Poly1305, SHA-256 and HMAC.
 */
import { createHash, createHmac, type KeyObject } from 'node:crypto';
import { freshPrivateKey } from './fresh-key.js';
import { defaultAead, type Aead } from './aead.js';
import { CipherState, TAG_BYTES } from './cipher-state.js';
import { SessionError, SessionErrorCode } from './errors.js';
import {
  x25519,
  x25519PublicKeyObject,
  x25519PublicOf,
  type X25519KeyPair,
} from './identity-keys.js';

export { CipherState } from './cipher-state.js';

const HASH_LEN = 32;
const DH_LEN = 32;
/** §3: "All Noise messages are less than or equal to 65535 bytes in length." */
export const MAX_NOISE_MESSAGE = 65535;

type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss';

interface Pattern {
  /** Pre-messages (§7.1): keys known in advance, mixed into h initiator's first. */
  readonly preInitiator: readonly Token[];
  readonly preResponder: readonly Token[];
  /** Message patterns; even index = initiator → responder. */
  readonly messages: readonly (readonly Token[])[];
  readonly oneWay: boolean;
}

/** §7.4 (IK, XX) and §7.3 (X), written exactly as in the spec. */
const PATTERNS = {
  X: {
    preInitiator: [],
    preResponder: ['s'],
    messages: [['e', 'es', 's', 'ss']],
    oneWay: true,
  },
  IK: {
    preInitiator: [],
    preResponder: ['s'],
    messages: [
      ['e', 'es', 's', 'ss'],
      ['e', 'ee', 'se'],
    ],
    oneWay: false,
  },
  XX: {
    preInitiator: [],
    preResponder: [],
    messages: [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']],
    oneWay: false,
  },
} as const satisfies Record<string, Pattern>;

export type NoisePatternName = keyof typeof PATTERNS;

export function protocolName(pattern: NoisePatternName): string {
  return `Noise_${pattern}_25519_ChaChaPoly_SHA256`;
}

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const m = createHmac('sha256', key);
  for (const p of parts) m.update(p);
  return m.digest();
}

/** §4.3 HKDF with two outputs (the only arity these patterns need). */
export function hkdf2(chainingKey: Uint8Array, ikm: Uint8Array): [Buffer, Buffer] {
  const temp = hmac(chainingKey, ikm);
  const out1 = hmac(temp, Uint8Array.of(1));
  const out2 = hmac(temp, out1, Uint8Array.of(2));
  temp.fill(0);
  return [out1, out2];
}

interface SymmetricSnapshot {
  ck: Buffer;
  h: Buffer;
  cipher: ReturnType<CipherState['snapshot']>;
}

/** §5.2 SymmetricState. */
export class SymmetricState {
  #ck: Buffer;
  #h: Buffer;
  readonly cipher: CipherState;
  readonly #aead: Aead;

  constructor(name: string, aead: Aead = defaultAead) {
    this.#aead = aead;
    this.cipher = new CipherState(undefined, aead);
    const bytes = Buffer.from(name, 'ascii');
    // InitializeSymmetric: a name of ≤ HASHLEN bytes is zero-padded, a longer one hashed.
    this.#h = bytes.length <= HASH_LEN ? Buffer.concat([bytes], HASH_LEN) : sha256(bytes);
    this.#ck = Buffer.from(this.#h);
  }

  get handshakeHash(): Buffer {
    return Buffer.from(this.#h);
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, k] = hkdf2(this.#ck, ikm);
    this.#ck.fill(0);
    this.#ck = ck;
    this.cipher.initializeKey(k.subarray(0, 32));
    k.fill(0);
  }

  mixHash(data: Uint8Array): void {
    this.#h = sha256(this.#h, data);
  }

  encryptAndHash(plaintext: Uint8Array): Buffer {
    const ct = this.cipher.encryptWithAd(this.#h, plaintext);
    this.mixHash(ct);
    return ct;
  }

  decryptAndHash(ciphertext: Uint8Array): Buffer {
    const pt = this.cipher.decryptWithAd(this.#h, ciphertext);
    this.mixHash(ciphertext);
    return pt;
  }

  snapshot(): SymmetricSnapshot {
    return { ck: Buffer.from(this.#ck), h: Buffer.from(this.#h), cipher: this.cipher.snapshot() };
  }

  restore(snap: SymmetricSnapshot): void {
    this.#ck = Buffer.from(snap.ck);
    this.#h = Buffer.from(snap.h);
    this.cipher.restore(snap.cipher);
  }

  /** Returns [initiator→responder, responder→initiator] cipher states. */
  split(): [CipherState, CipherState] {
    const [k1, k2] = hkdf2(this.#ck, Buffer.alloc(0));
    const c1 = new CipherState(k1.subarray(0, 32), this.#aead);
    const c2 = new CipherState(k2.subarray(0, 32), this.#aead);
    k1.fill(0);
    k2.fill(0);
    this.#ck.fill(0);
    this.cipher.destroy();
    return [c1, c2];
  }
}

export interface HandshakeOptions {
  pattern: NoisePatternName;
  initiator: boolean;
  /** §6 prologue: bound into h, both sides must use the same bytes. */
  prologue?: Uint8Array;
  /** Local static key pair (every pattern here has one on both sides). */
  s?: X25519KeyPair;
  /** Remote static public key known in advance (the IK/X initiator). */
  rs?: Uint8Array;
  /** Fixed ephemeral key pair — ONLY for test vectors; normally generated per handshake. */
  e?: X25519KeyPair;
  /** ChaCha20-Poly1305 backend (aead.ts); default libsodium when it loads, else node:crypto. */
  aead?: Aead;
}

/** Keys a finished handshake yields, already oriented for this side. */
export interface TransportKeys {
  send: CipherState;
  /** For a one-way pattern (X) this key is never used: nothing comes back. */
  receive: CipherState;
  handshakeHash: Buffer;
  remoteStatic: Uint8Array;
}

/**
 * §5.3 HandshakeState. A read that fails (forged, corrupted, truncated) leaves the state exactly as
 * it was, so over datagrams a third party's junk cannot kill a handshake in flight — the genuine
 * message can still be read after it. (Over a stream the spec aborts instead; here loss and
 * injection are normal, as in WireGuard, which parses each handshake message statelessly.)
 */
export class HandshakeState {
  readonly #pattern: Pattern;
  readonly #initiator: boolean;
  readonly #ss: SymmetricState;
  #s: X25519KeyPair | undefined;
  #e: X25519KeyPair | undefined;
  #rs: Uint8Array | undefined;
  #re: Uint8Array | undefined;
  #index = 0;
  #imported: { raw: Uint8Array; key: KeyObject } | undefined;
  #result: TransportKeys | undefined;

  constructor(o: HandshakeOptions) {
    const pattern: Pattern = PATTERNS[o.pattern];
    if (!pattern) throw new TypeError(`unsupported Noise pattern ${String(o.pattern)}`);
    this.#pattern = pattern;
    this.#initiator = o.initiator;
    this.#s = o.s;
    this.#e = o.e;
    this.#rs = o.rs;
    if (!o.s) throw new TypeError('every supported pattern needs a local static key');
    if (pattern.preResponder.includes('s') && o.initiator && !o.rs)
      throw new TypeError(`${o.pattern} initiator needs the responder's static key (rs)`);
    this.#ss = new SymmetricState(protocolName(o.pattern), o.aead);
    this.#ss.mixHash(o.prologue ?? new Uint8Array(0));
    // Pre-messages, initiator's first (§7.1); only "s" occurs in the patterns here.
    for (const [tokens, ofInitiator] of [
      [pattern.preInitiator, true],
      [pattern.preResponder, false],
    ] as const) {
      for (const t of tokens) {
        if (t !== 's') throw new TypeError(`unsupported pre-message token ${t}`);
        const mine = ofInitiator === this.#initiator;
        this.#ss.mixHash(mine ? this.#s!.publicKey : this.#rs!);
      }
    }
  }

  get isInitiator(): boolean {
    return this.#initiator;
  }

  /** True when it is this side's turn to write. */
  get isMyTurn(): boolean {
    return !this.complete && this.#index % 2 === (this.#initiator ? 0 : 1);
  }

  get complete(): boolean {
    return this.#result !== undefined;
  }

  /** Remote static public key, once learned (or given). */
  get remoteStatic(): Uint8Array | undefined {
    return this.#rs;
  }

  get handshakeHash(): Buffer {
    return this.#ss.handshakeHash;
  }

  /** Transport keys once the last message was written or read. */
  get result(): TransportKeys | undefined {
    return this.#result;
  }

  writeMessage(payload: Uint8Array): Buffer {
    this.#checkTurn(true);
    const parts: Uint8Array[] = [];
    for (const token of this.#pattern.messages[this.#index]!) {
      if (token === 'e') {
        this.#e ??= generateEphemeral();
        parts.push(this.#e.publicKey);
        this.#ss.mixHash(this.#e.publicKey);
      } else if (token === 's') {
        parts.push(this.#ss.encryptAndHash(this.#s!.publicKey));
      } else {
        this.#ss.mixKey(this.#dh(token));
      }
    }
    parts.push(this.#ss.encryptAndHash(payload));
    const out = Buffer.concat(parts);
    if (out.length > MAX_NOISE_MESSAGE) throw new RangeError('Noise message exceeds 65535 bytes');
    this.#advance();
    return out;
  }

  readMessage(message: Uint8Array): Buffer {
    this.#checkTurn(false);
    if (message.length > MAX_NOISE_MESSAGE)
      throw new SessionError(SessionErrorCode.MALFORMED, 'Noise message exceeds 65535 bytes');
    const snap = { ss: this.#ss.snapshot(), rs: this.#rs, re: this.#re };
    try {
      let off = 0;
      const take = (n: number): Uint8Array => {
        if (off + n > message.length)
          throw new SessionError(SessionErrorCode.MALFORMED, 'handshake message too short');
        const part = message.subarray(off, off + n);
        off += n;
        return part;
      };
      for (const token of this.#pattern.messages[this.#index]!) {
        if (token === 'e') {
          this.#re = Uint8Array.from(take(DH_LEN));
          this.#ss.mixHash(this.#re);
        } else if (token === 's') {
          const len = this.#ss.cipher.hasKey() ? DH_LEN + TAG_BYTES : DH_LEN;
          this.#rs = Uint8Array.from(this.#ss.decryptAndHash(take(len)));
        } else {
          this.#ss.mixKey(this.#dh(token));
        }
      }
      const payload = this.#ss.decryptAndHash(message.subarray(off));
      this.#advance();
      return payload;
    } catch (e) {
      this.#ss.restore(snap.ss);
      this.#rs = snap.rs;
      this.#re = snap.re;
      throw e;
    }
  }

  #dh(token: Exclude<Token, 'e' | 's'>): Buffer {
    // §7.2: "es" = DH(initiator e, responder s), etc.; each side picks its own half.
    const [local, remote] =
      token === 'ee'
        ? [this.#e, this.#re]
        : token === 'ss'
          ? [this.#s, this.#rs]
          : (token === 'es') === this.#initiator
            ? [this.#e, this.#rs]
            : [this.#s, this.#re];
    if (!local || !remote) throw new TypeError(`missing key for ${token}`);
    return x25519(local.privateKey, this.#keyObject(remote));
  }

  /** Each remote key is used in two DHs; import it once (KeyObject creation dominates a DH). */
  #keyObject(raw: Uint8Array): KeyObject {
    if (this.#imported?.raw !== raw) this.#imported = { raw, key: x25519PublicKeyObject(raw) };
    return this.#imported.key;
  }

  #checkTurn(writing: boolean): void {
    if (this.complete) throw new TypeError('handshake already complete');
    if (this.isMyTurn !== writing)
      throw new TypeError(writing ? 'not our turn to write' : 'not our turn to read');
  }

  #advance(): void {
    this.#index++;
    if (this.#index < this.#pattern.messages.length) return;
    const [c1, c2] = this.#ss.split();
    this.#result = {
      send: this.#initiator ? c1 : c2,
      receive: this.#initiator ? c2 : c1,
      handshakeHash: this.#ss.handshakeHash,
      remoteStatic: this.#rs!,
    };
    this.#e = undefined; // ephemeral keys die with the handshake (forward secrecy)
  }
}

function generateEphemeral(): X25519KeyPair {
  // Not generateKeyPairSync: exporting its key can deadlock on Node 20 (fresh-key.ts).
  const privateKey = freshPrivateKey('x25519');
  return { privateKey, publicKey: x25519PublicOf(privateKey) };
}
