/**
 * The npm `stun` package's server, as its README shows it, for bench/stun-binding.ts.
 * argv: port. Prints "ready" when listening.
 */
import { createRequire } from 'node:module';

interface NpmStunServer {
  on(
    ev: string,
    fn: (req: { transactionId: Buffer }, rinfo: { address: string; port: number }) => void,
  ): void;
  send(msg: unknown, port: number, address: string): void;
  listen(port: number, address: string, cb: () => void): void;
}
interface NpmStunMessage {
  addXorAddress(address: string, port: number): void;
  addSoftware(s: string): void;
}
interface NpmStun {
  createServer(o: { type: string }): NpmStunServer;
  createMessage(type: number, tx?: Buffer): NpmStunMessage;
  constants: Record<string, number | string>;
}

const stun = createRequire(import.meta.url)('stun') as NpmStun;
const server = stun.createServer({ type: 'udp4' });
const BINDING_RESPONSE = stun.constants.STUN_BINDING_RESPONSE as number;
server.on(stun.constants.STUN_EVENT_BINDING_REQUEST as string, (req, rinfo) => {
  const res = stun.createMessage(BINDING_RESPONSE, req.transactionId);
  res.addXorAddress(rinfo.address, rinfo.port);
  res.addSoftware('npm-stun');
  server.send(res, rinfo.port, rinfo.address);
});
server.listen(Number(process.argv[2]), '127.0.0.1', () => console.log('ready'));
