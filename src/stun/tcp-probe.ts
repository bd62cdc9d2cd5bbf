/**
 * One STUN Binding over TCP (RFC 8489 §6.2.2), used by nat-check to tell "UDP is blocked" from
 * "the server is down". node:net directly: the injected network is UDP only.
 */
import net from 'node:net';
import type { Endpoint } from '../net/udp.js';
import { readMappedAddress } from './attributes.js';
import { StunDecodeError, StunTimeoutError } from './errors.js';
import { StunMessageBuilder } from './message-builder.js';
import { BINDING_REQUEST } from './message-type.js';
import { decodeStunMessage, stunMessageLength } from './message.js';

export function tcpBinding(server: Endpoint, timeoutMs = 3_000): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: server.address, port: server.port });
    let buf = Buffer.alloc(0);
    const fail = (err: Error): void => {
      sock.destroy();
      reject(err);
    };
    sock.setTimeout(timeoutMs, () => fail(new StunTimeoutError('no STUN answer over TCP', 1)));
    sock.on('error', fail);
    sock.on('connect', () => sock.write(new StunMessageBuilder(BINDING_REQUEST).build()));
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const len = stunMessageLength(buf);
      if (len === undefined || buf.length < len) return;
      try {
        const mapped = readMappedAddress(decodeStunMessage(buf.subarray(0, len)));
        if (!mapped) throw new StunDecodeError('TCP Binding response without a mapped address');
        sock.destroy();
        resolve(mapped);
      } catch (err) {
        fail(err as Error);
      }
    });
  });
}
