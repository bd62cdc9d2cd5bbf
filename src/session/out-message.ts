/**
 * A notification on its way out of a ReliableChannel (reliable-sender.ts), and the packets that
 * carry it: one per fragment, or the message itself when it needs one.
 */
import { encodeNotification, notificationBytes, type Notification } from './notification-codec.js';

export interface OutMessage {
  /**
   * What was sent (its strings, not the caller's object, which it may change after `send`): a
   * message that fits one data frame is encoded straight into each datagram it goes in.
   */
  id: string;
  topic: string | undefined;
  body: string;
  /** UTF-8 bytes of its topic and body (writeNotification). */
  topicBytes: number;
  bodyBytes: number;
  /** Its encoding split to fit the datagram, when it needs more than one (else undefined). */
  fragments: Buffer[] | undefined;
  fragCount: number;
  nextFragment: number;
  unacked: number;
  /**
   * Called once: with no argument when every fragment was acked, or with the error (timeout,
   * close). A callback, not a promise: a promise and its two resolving functions per
   * notification were a share of a flood's garbage (ReliableChannel.post).
   */
  done: (err?: Error) => void;
  /** Clock time after which `send` rejects with SEND_TIMEOUT (one timer for all). */
  deadline: number;
  settled: boolean;
  /**
   * A message of one fragment (every notification that fits a datagram) is its own packet: the
   * OutPacket fields below are its packet's (`msg` is itself), so a flood makes one object per
   * notification rather than two. Unused by a fragmented message (its packets are separate).
   */
  pn: number;
  msg: OutMessage;
  fragIndex: number;
  lastSentAt: number;
  sendCount: number;
}

export interface OutPacket {
  pn: number;
  msg: OutMessage;
  fragIndex: number;
  lastSentAt: number;
  sendCount: number;
}

/**
 * A new OutMessage for `n` (checked by the channel; `bodyBytes` its body's UTF-8 length), every
 * field set here in one order (one object shape for all). One that fits a data frame
 * (`fragmentBytes`) is encoded straight into its datagram each time it is sent
 * (DatagramBuilder.addMessage); a larger one is encoded once here and split into views of that
 * one Buffer.
 */
export function outMessage(
  n: Notification,
  bodyBytes: number,
  fragmentBytes: number,
  done: (err?: Error) => void,
  deadline: number,
): OutMessage {
  const topicBytes = n.topic ? Buffer.byteLength(n.topic) : 0;
  let fragments: Buffer[] | undefined;
  if (notificationBytes(n.id, topicBytes, bodyBytes) > fragmentBytes) {
    const bytes = encodeNotification(n, bodyBytes);
    fragments = [];
    for (let off = 0; off < bytes.length; off += fragmentBytes)
      fragments.push(bytes.subarray(off, off + fragmentBytes));
  }
  const count = fragments ? fragments.length : 1;
  const m = {
    id: n.id,
    topic: n.topic,
    body: n.body,
    topicBytes,
    bodyBytes,
    fragments,
    fragCount: count,
    nextFragment: 0,
    unacked: count,
    done,
    deadline,
    settled: false,
    pn: -1,
    msg: undefined as unknown as OutMessage,
    fragIndex: 0,
    lastSentAt: 0,
    sendCount: 0,
  };
  m.msg = m;
  return m;
}
