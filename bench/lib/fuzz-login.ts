/**
 * A logged-in WebSocket of a peer (hello → challenge → auth → welcome), for the fuzz and flood
 * tiers that need many registered peers with fresh keys.
 */
import WebSocket from 'ws';
import { WS_SUBPROTOCOL } from '../../src/signaling/constants.js';
import { generateIdentity, signChallenge, type Identity } from '../../src/signaling/identity.js';

/** Resolves with the socket once `welcome` arrived; rejects on anything else first. */
export function loginWs(url: string, id: Identity = generateIdentity()): Promise<WebSocket> {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '/v1/ws', WS_SUBPROTOCOL);
  return new Promise<WebSocket>((resolve, reject) => {
    const onMessage = (d: WebSocket.RawData) => {
      const m = JSON.parse(String(d)) as {
        type: string;
        server: string;
        nonce: string;
        expires: number;
      };
      if (m.type === 'challenge')
        ws.send(JSON.stringify({ type: 'auth', nonce: m.nonce, signature: signChallenge(id, m) }));
      else if (m.type === 'welcome') {
        ws.off('message', onMessage);
        resolve(ws);
      } else {
        ws.terminate();
        reject(new Error(`login: ${String(d)}`));
      }
    };
    ws.on('message', onMessage);
    ws.once('open', () =>
      ws.send(JSON.stringify({ type: 'hello', v: 1, peer: id.peerId, publicKey: id.publicKey })),
    );
    ws.once('error', reject);
  });
}

/** Log in once so the server knows the peer (its mailbox takes notifications), then leave. */
export async function registerPeer(
  url: string,
  id: Identity = generateIdentity(),
): Promise<Identity> {
  const ws = await loginWs(url, id);
  ws.close();
  return id;
}
