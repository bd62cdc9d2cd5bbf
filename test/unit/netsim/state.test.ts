import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NETSIM_ERR } from '../../../netsim/errors.js';
import {
  createRecord,
  listRecords,
  processAlive,
  readRecord,
  removeRecord,
  type LabRecord,
} from '../../../netsim/state.js';

const rec = (name: string): LabRecord => ({
  v: 1,
  name,
  prefix: `np-${name}`,
  namespaces: [`np-${name}-inet`, `np-${name}-a`],
  nodes: [],
  ownerPid: process.pid,
  persistent: false,
  createdAt: new Date(0).toISOString(),
});

describe('netsim lab records', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'netsim-state-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a record once, reads it back, removes it', () => {
    createRecord(dir, rec('lab1'));
    expect(readRecord(dir, 'lab1')).toEqual(rec('lab1'));
    expect(() => createRecord(dir, rec('lab1'))).toThrow(
      expect.objectContaining({ code: NETSIM_ERR.LAB_EXISTS }),
    );
    removeRecord(dir, 'lab1');
    expect(() => readRecord(dir, 'lab1')).toThrow(
      expect.objectContaining({ code: NETSIM_ERR.NO_SUCH_LAB }),
    );
  });

  it('refuses records that would name namespaces outside the lab', () => {
    writeFileSync(
      join(dir, 'evil.json'),
      JSON.stringify({ ...rec('evil'), namespaces: ['somebody-else'] }),
    );
    expect(() => readRecord(dir, 'evil')).toThrow(/malformed/);
    createRecord(dir, rec('good'));
    expect(listRecords(dir)).toEqual({ records: [rec('good')], broken: ['evil'] });
  });

  it('rejects bad lab names before touching the file system', () => {
    expect(() => readRecord(dir, '../etc/passwd')).toThrow(TypeError);
  });

  it('tells live processes from gone ones', () => {
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(2 ** 22 + 1)).toBe(false); // above pid_max's ceiling
  });
});
