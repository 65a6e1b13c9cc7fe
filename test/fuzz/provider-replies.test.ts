/**
 * Fuzzing the decoders of provider answers (a provider, a proxy or a man in the middle controls
 * them): Cloudreve's envelope → error (api-error.ts) and file/listing shape checks (validate.ts),
 * Couchdrop's wire entries (validate.ts, wire.ts) and error bodies (codes.ts). Each input is JSON
 * text parsed as the clients parse it; only the documented error (EPROTO) may come out, never a
 * TypeError, within the per-input time and heap bounds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { envelopeError } from '../../adapters/cloudreve/api-error.js';
import type { Envelope } from '../../adapters/cloudreve/types.js';
import { checkFile, checkList } from '../../adapters/cloudreve/validate.js';
import { couchdropError, providerMessageOf } from '../../adapters/couchdrop/codes.js';
import { checkWireEntry } from '../../adapters/couchdrop/validate.js';
import { VfsError, isVfsError } from '../../src/errors.js';
import { bounded, params } from './harness.js';

const eproto = (e: unknown) => isVfsError(e, 'EPROTO');
const never = () => false;

/** JSON values whose objects often use the keys the decoders read, and the keys that bite (`toString`, `__proto__`). */
const keys = fc.constantFrom('code', 'msg', 'data', 'error', 'err', 'message', 'aggregated_error', 'files', 'pagination', 'type', 'name', 'size', 'size:',
  'filename', 'is_dir', 'modtime', 'ls', 'lstat', 'toString', 'valueOf', '__proto__', 'constructor', 'x');
const leaf = fc.oneof(fc.integer({ min: -2, max: 50_000 }), fc.double(), fc.constantFrom(0, 1, -1, 40081, 40073, '0', '12', ' ', '', '.', '..', 'a/b', 'a\u0000b', 'true', true, false, null), fc.string({ maxLength: 20 }));
const json: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof({ depthSize: 'small', maxDepth: 5, depthIdentifier: 'j' }, leaf,
    fc.array(tie('v'), { maxLength: 5, depthIdentifier: 'j' }),
    fc.array(fc.tuple(keys, tie('v')), { maxLength: 6, depthIdentifier: 'j' }).map((kv) => {
      // Built as JSON text and parsed, so "__proto__" is an own key as JSON.parse makes it.
      return JSON.parse('{' + kv.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v ?? null)}`).join(',') + '}') as unknown;
    })),
})).v;
/** The value as the client sees it: JSON text → JSON.parse. */
const reply = json.map((v) => JSON.stringify(v ?? null));

describe('Cloudreve answers', () => {
  const where = { operation: 'GET /file', path: '/p' };
  it('file and listing shapes: a value or EPROTO', () => {
    fc.assert(fc.property(reply, (text) => {
      const v = JSON.parse(text) as unknown;
      bounded('checkFile', () => checkFile(v, where), eproto, text.length, true);
      bounded('checkList', () => checkList(v, where), eproto, text.length, true);
    }), params(500));
  });

  it('error envelopes: always a VfsError, whatever the code, msg or aggregated_error hold', () => {
    const envelope = fc.tuple(fc.integer({ min: -2, max: 50_000 }), json, json, json).map(([code, msg, data, agg]) =>
      JSON.stringify({ code, msg, data, aggregated_error: agg }));
    fc.assert(fc.property(fc.oneof(envelope, reply.filter((t) => typeof (JSON.parse(t) as Envelope)?.code === 'number')), (text) => {
      const env = JSON.parse(text) as Envelope;
      const e = bounded('envelopeError', () => envelopeError(env, { operation: 'op', path: '/p' }), never, text.length, true);
      expect(e).toBeInstanceOf(VfsError);
      expect(typeof e!.message).toBe('string');
    }), params(500));
  });

  it('regression: a msg that is not a string (found by the fuzzer: {"msg":0,"code":0}) is no TypeError', () => {
    for (const text of ['{"msg":0,"code":0}', '{"code":40001,"msg":{"toString":1}}', '{"code":40081,"msg":"","aggregated_error":{"u":{"code":404,"msg":{"valueOf":2,"toString":3}}}}', '{"code":5,"msg":["a"]}']) {
      const e = envelopeError(JSON.parse(text) as Envelope, { operation: 'op' });
      expect(e, text).toBeInstanceOf(VfsError);
    }
  });

  it('pathological: a 10 000-entry listing and a deeply nested answer', () => {
    const files = Array.from({ length: 10_000 }, (_, i) => ({ type: 0, name: `f${i}`, size: i }));
    const text = JSON.stringify({ files, pagination: {} });
    bounded('checkList', () => checkList(JSON.parse(text), where), eproto, text.length, 'always');
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    bounded('checkList', () => checkList(JSON.parse(deep), where), eproto, deep.length, 'always');
  });
});

describe('Couchdrop answers', () => {
  const bad = (what: string) => new VfsError('EPROTO', what, { provider: 'couchdrop' });
  it('wire entries: an entry or EPROTO', () => {
    fc.assert(fc.property(reply, (text) => {
      const v = JSON.parse(text) as unknown;
      const w = bounded('checkWireEntry', () => checkWireEntry(v, 'entry', bad), eproto, text.length, true);
      if (w) expect(typeof w.filename).toBe('string');
    }), params(500));
  });

  it('error bodies: a message or undefined, and always a VfsError', () => {
    fc.assert(fc.property(fc.oneof(reply, fc.string({ maxLength: 200 })), fc.integer({ min: 100, max: 599 }), (text, status) => {
      const m = bounded('providerMessageOf', () => providerMessageOf(text), never, text.length);
      expect(m === undefined || typeof m === 'string').toBe(true);
      const e = bounded('couchdropError', () => couchdropError(status, m, { operation: 'op', path: '/p' }), never, text.length);
      expect(e).toBeInstanceOf(VfsError);
    }), params(2000));
    for (const text of ['{"error":"' + 'not '.repeat(16_000) + '"}', 'x'.repeat(64 * 1024), '{"error":"' + 'already'.repeat(9000) + '"}']) {
      const m = bounded('providerMessageOf', () => providerMessageOf(text), never, text.length, 'always');
      bounded('couchdropError', () => couchdropError(422, m, { operation: 'op' }), never, text.length, 'always');
    }
  });
});
