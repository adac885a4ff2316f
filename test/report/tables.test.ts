import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as aq from 'arquero';
import { isTable, tableBundle } from '../../src/report/tables.js';

test('arquero table -> text/html + markdown text/plain with fixed decimals', () => {
  const t = aq.table({ task: ['sst2', 'rte'], acc: [0.91234567, 0.7], n: [872, 277] });
  const b = tableBundle(t);
  assert.equal(b['text/plain'], '|task|acc|n|\n|:-|-:|-:|\n|sst2|0.9123|872|\n|rte|0.7000|277|');
  assert.match(b['text/html'], /^<table>/);
  assert.match(b['text/html'], /<td[^>]*>0\.9123<\/td>/);
  assert.match(b['text/html'], /<td[^>]*>872<\/td>/);
});

test('long tables are cut at the limit and say how many rows are left', () => {
  const t = aq.table({ i: Array.from({ length: 30 }, (_, k) => k) });
  const b = tableBundle(t, { limit: 5 });
  assert.equal(b['text/plain'].split('\n').length, 2 + 5 + 1);
  assert.match(b['text/plain'], /… 25 more rows \(30 total\)$/);
  assert.match(b['text/html'], /… 25 more rows \(30 total\)/);
  assert.equal((b['text/html'].match(/<tr>/g) ?? []).length, 1 + 5);
});

test('isTable recognises arquero tables only', () => {
  assert.ok(isTable(aq.table({ a: [1] })));
  assert.ok(!isTable({ a: [1] }));
  assert.ok(!isTable(null));
});
