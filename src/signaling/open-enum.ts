/**
 * Enum fields in what serve sends, read the tolerant way (protocol.ts header: Compatibility).
 *
 * Version 1 grows by new values as well as new fields: a newer serve may name a transport this
 * client has never heard of (`delivered.via: "webtransport"`), forward a candidate of a new kind
 * from a newer peer, or describe a NAT with a new allocation pattern. Refusing the frame for
 * that would drop the connection of every older client the day serve upgrades, so each enum
 * field serve sends is in one of four classes, by what the client does with it:
 *
 * | class                          | an unknown value …                    | fields                                    |
 * | ------------------------------ | ------------------------------------- | ----------------------------------------- |
 * | informational, optional        | reads as absent ("not known")         | `presence.transport`, `nat.mapping`, `nat.filtering`, `nat.allocation` |
 * | informational, required        | reads as `'unknown'`                  | `delivered.via`                           |
 * | needed to use a list element   | drops that element, keeps the frame   | `candidates[].type`, `candidates[].protocol` |
 * | open by definition             | is kept as it is (a bounded string)   | `error.code` (`fatal` says what to do)    |
 *
 * Absent rather than `'unknown'` for optional fields because every consumer already handles an
 * absent fact (the hard-NAT planner guesses without it) and none has to learn a new case. A
 * candidate whose kind or protocol the client does not know cannot be probed or ranked (RFC 8445
 * §5.1.2 priorities are per type), so it is left out — as if the other peer had not gathered it.
 *
 * What stays fatal: a value of the wrong JSON type or longer than `MAX_ENUM_CHARS` (no version
 * of serve sends that; it is a broken or hostile server), and the `type` of a known frame.
 * The client → server direction stays strict (client-messages.ts): serve refuses a value it does
 * not know, because that is where hostile input arrives.
 */
import { z } from 'zod';

/** Longest enum value a client reads: the longest known is 26 characters; room to grow. */
export const MAX_ENUM_CHARS = 64;

type Values = readonly [string, ...string[]];

/** A bounded string, so a hostile server cannot pass a 1 MB "value" to a log line. */
const enumString = () => z.string().max(MAX_ENUM_CHARS);

/** Informational and optional: an unknown value reads as absent. */
export function optionalOpenEnum<const T extends Values>(values: T) {
  const known: ReadonlySet<string> = new Set(values);
  return enumString()
    .transform((v) => (known.has(v) ? (v as T[number]) : undefined))
    .optional();
}

/** Informational and required: an unknown value reads as `'unknown'`. */
export function openEnum<const T extends Values>(values: T) {
  const known: ReadonlySet<string> = new Set(values);
  return enumString().transform((v) => (known.has(v) ? (v as T[number]) : 'unknown'));
}

/**
 * A list whose elements can only be used when the client knows their `keys` (an enum each):
 * an element with an unknown value there is dropped before its other fields are looked at (a new
 * kind may have other fields); every other element must match `element` exactly as before.
 * `max` bounds the list as received, dropped elements included.
 */
export function listOfKnown<T>(
  element: z.ZodType<T>,
  keys: Record<string, Values>,
  max: number,
): z.ZodType<T[], unknown[]> {
  const known = Object.entries(keys).map(([k, v]) => [k, new Set<string>(v)] as const);
  return z
    .array(z.unknown())
    .max(max)
    .transform((list, ctx) => {
      const out: T[] = [];
      list.forEach((raw, i) => {
        if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
          ctx.addIssue({ code: 'custom', message: 'expected an object', path: [i] });
          return;
        }
        let understood = true;
        for (const [k, set] of known) {
          const v = (raw as Record<string, unknown>)[k];
          if (typeof v !== 'string' || v.length > MAX_ENUM_CHARS) {
            ctx.addIssue({ code: 'custom', message: `expected a short string`, path: [i, k] });
            return;
          }
          if (!set.has(v)) understood = false;
        }
        if (!understood) return;
        const r = element.safeParse(raw);
        if (r.success) out.push(r.data);
        else
          for (const issue of r.error.issues) ctx.addIssue({ ...issue, path: [i, ...issue.path] });
      });
      return out;
    });
}

/**
 * Leaves out the keys of `o` whose value came out `undefined` (an optional open enum that read
 * as absent), so "absent" looks the same to `in`, spreading and deep equality.
 */
export function withoutUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
