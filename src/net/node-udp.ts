/**
 * `UdpNetwork` on real sockets (node:dgram). A thin wrapper: the hot path is one `socket.send`
 * call without a callback and one listener call per datagram, and `rinfo` is passed through as the
 * `Endpoint` (it already has address/port/family) so receiving allocates nothing extra.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import { isIP } from 'node:net';
import type {
  Endpoint,
  ErrorListener,
  MessageListener,
  UdpBindOptions,
  UdpNetwork,
  UdpSocket,
} from './udp.js';
import { checkPort, familyOf } from './udp.js';
import { SocketListeners } from './listeners.js';

/** Kernel buffer sizes asked for: a burst of Binding requests must not overflow the default
 *  ~200 KiB receive buffer (the npm `stun` server drops requests exactly that way). */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * node:dgram resolves the address of every unconnected send through dns.lookup, which for an IP
 * literal answers on process.nextTick: a tick, a closure and an async-id scope per datagram
 * (measured: ~15 % of a loopback send's CPU). Our callers always pass IP literals, so answer
 * those synchronously; names still go to dns.lookup.
 */
function literalLookup(
  hostname: string,
  options: dns.LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(hostname);
  if (family !== 0) return callback(null, hostname, family);
  dns.lookup(hostname, options, callback);
}

class NodeUdpSocket implements UdpSocket {
  readonly #socket: dgram.Socket;
  readonly #listeners = new SocketListeners();
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(socket: dgram.Socket) {
    this.#socket = socket;
    socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
      // A listener that throws must not starve the others or kill the socket.
      this.#listeners.message(msg, rinfo as Endpoint);
    });
    socket.on('error', (err) => this.#listeners.error(err));
  }

  get closed(): boolean {
    return this.#closed;
  }

  address(): Endpoint {
    const a = this.#socket.address();
    return { address: a.address, port: a.port, family: familyOf(a.address) };
  }

  send(data: Uint8Array, to: Endpoint): void {
    if (this.#closed) throw new TypeError('send on a closed UDP socket');
    checkPort(to.port);
    // No callback: node:dgram then reports a failed send as an 'error' event (which goes to our
    // error listeners) and skips a process.nextTick per datagram on the hot path.
    this.#socket.send(data, to.port, to.address);
  }

  onMessage(listener: MessageListener): () => void {
    return this.#listeners.onMessage(listener);
  }

  onError(listener: ErrorListener): () => void {
    return this.#listeners.onError(listener);
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = new Promise((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve(); // already closed by the runtime
      }
    });
    return this.#closing;
  }
}

export interface NodeUdpNetworkOptions {
  /** SO_RCVBUF / SO_SNDBUF to request; default 4 MiB (the kernel may cap it at rmem_max). */
  bufferBytes?: number;
}

export function createNodeUdpNetwork(options: NodeUdpNetworkOptions = {}): UdpNetwork {
  const bufferBytes = options.bufferBytes ?? SOCKET_BUFFER_BYTES;
  return {
    async bindUdp(opts: UdpBindOptions = {}): Promise<UdpSocket> {
      const family = opts.address ? familyOf(opts.address) : (opts.family ?? 'IPv4');
      const port = opts.port ?? 0;
      checkPort(port);
      const socket = dgram.createSocket({
        type: family === 'IPv6' ? 'udp6' : 'udp4',
        lookup: literalLookup,
        ...(opts.share === 'reuseport' ? { reusePort: true } : {}),
      } as dgram.SocketOptions);
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        socket.once('error', onError);
        const exclusive = opts.share !== 'cluster'; // see UdpBindOptions.share
        socket.bind({ port, address: opts.address, exclusive }, () => {
          socket.off('error', onError);
          resolve();
        });
      });
      for (const set of [socket.setRecvBufferSize, socket.setSendBufferSize]) {
        try {
          set.call(socket, bufferBytes);
        } catch {
          // Best effort: unprivileged processes are capped at net.core.rmem_max.
        }
      }
      return new NodeUdpSocket(socket);
    },
  };
}

/** The process-wide real network. */
export const nodeUdpNetwork: UdpNetwork = createNodeUdpNetwork();
