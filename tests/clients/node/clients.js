// ioredis and node-redis against dynis ($DYNIS_PORT): connect handshakes, commands,
// pipelines, MULTI/EXEC, SCAN streams and the context-carrying GETCTX/SETCTX pair.
const assert = require('node:assert/strict');
const Redis = require('ioredis');
const { createClient } = require('redis');

const port = Number(process.env.DYNIS_PORT);

async function ioredis() {
  const r = new Redis({ port, maxRetriesPerRequest: 1 });
  assert.equal(await r.set('io:a', '1'), 'OK');
  assert.equal(await r.get('io:a'), '1');
  assert.deepEqual(await r.pipeline().set('io:b', 2).incr('io:b').get('io:b').exec(),
                   [[null, 'OK'], [null, 3], [null, '3']]);
  assert.deepEqual(await r.multi().set('io:c', 3).incr('io:c').exec(), [[null, 'OK'], [null, 4]]);
  assert.deepEqual(await r.mget('io:a', 'io:b', 'io:c', 'io:none'), ['1', '3', '4', null]);
  assert.equal(await r.set('io:t', 'x', 'EX', 100), 'OK');
  assert.ok((await r.ttl('io:t')) > 90);
  const keys = [];
  for await (const batch of r.scanStream({ match: 'io:*', count: 2 })) keys.push(...batch);
  assert.deepEqual([...new Set(keys)].sort(), ['io:a', 'io:b', 'io:c', 'io:t']);
  // Two writers with the same context make two siblings; a merge with the newer context wins.
  const [ctx] = await r.callBuffer('GETCTX', 'io:cart');
  assert.equal(await r.call('SETCTX', 'io:cart', ctx, 'apples'), 'OK');
  assert.equal(await r.call('SETCTX', 'io:cart', ctx, 'pears'), 'OK');
  const [ctx2, values] = await r.callBuffer('GETCTX', 'io:cart');
  assert.deepEqual(values.map(String).sort(), ['apples', 'pears']);
  assert.equal(await r.call('SETCTX', 'io:cart', ctx2, 'apples,pears'), 'OK');
  const [, merged] = await r.callBuffer('GETCTX', 'io:cart');
  assert.deepEqual(merged.map(String), ['apples,pears']);
  await r.quit();
}

async function nodeRedis() {
  const c = createClient({ url: `redis://127.0.0.1:${port}` });
  const errors = [];
  c.on('error', (e) => errors.push(e));
  await c.connect();
  assert.equal(await c.set('nr:d', 'x', { EX: 100 }), 'OK');
  assert.equal(await c.get('nr:d'), 'x');
  assert.equal(await c.ttl('nr:d'), 100);
  assert.deepEqual(await c.multi().set('nr:e', '1').incr('nr:e').exec(), ['OK', 2]);
  assert.ok((await c.info('server')).includes('redis_version:'));
  assert.equal(await c.sendCommand(['CLIENT', 'SETINFO', 'LIB-NAME', 'node-redis']), 'OK');
  const [, vals] = await c.sendCommand(['GETCTX', 'nr:d']);
  assert.deepEqual(vals, ['x']);
  await c.quit();
  assert.deepEqual(errors, []);
}

(async () => {
  await ioredis();
  console.log('ioredis: ok');
  await nodeRedis();
  console.log('node-redis: ok');
})().catch((e) => {
  console.error('FAIL', e);
  process.exit(1);
});
