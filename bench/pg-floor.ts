/**
 * `node --import tsx bench/pg-floor.ts [CONNECTIONS] [BATCH] [leased]`: the fastest a PostgreSQL queue can drain on
 * this machine, whatever its design: a table of 200,000 bare rows (id, payload, owner) emptied by CONNECTIONS
 * connections (default 2, one per core here), each sending `DELETE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED
 * LIMIT BATCH)` in a loop, nothing else: no lease, no attempt, no outcome, no history. With `leased`, the least a
 * queue that survives a crashed worker must do: lease a batch (an UPDATE that sets the owner and commits), then
 * delete it fenced by that owner, the delete of one batch sent with the lease of the next. Both are upper bounds on
 * any queue that keeps its jobs in PostgreSQL with `synchronous_commit` on. Issue 16's drain target (five times
 * graphile-worker's batched mode, ~140,000 jobs/s) is measured against it in bench/RESULTS.md.
 */
import pg from 'pg';

const url = process.env.BENCH_PG_URL ?? 'postgres://root@127.0.0.1:5432/test';
const connections = Number(process.argv[2] ?? 2);
const batch = Number(process.argv[3] ?? 500);
const leased = process.argv[4] === 'leased';
const ROWS = 200_000;
const table = `bench_floor_${process.pid}`;

const admin = new pg.Client({ connectionString: url });
await admin.connect();
try {
  await admin.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, payload jsonb NOT NULL, owner text)`);
  await admin.query(`INSERT INTO ${table} (payload) SELECT jsonb_build_object('i', i) FROM generate_series(1, $1) i`, [ROWS]);
  await admin.query(`VACUUM ANALYZE ${table}`);
  const clients = await Promise.all(
    Array.from({ length: connections }, async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      return client;
    }),
  );
  const take = `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id, payload`;
  const lease = `UPDATE ${table} SET owner = $2 WHERE id IN (SELECT id FROM ${table} WHERE owner IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id, payload`;
  const finish = `DELETE FROM ${table} WHERE id = ANY($1::bigint[]) AND owner = $2`;
  const started = performance.now();
  let drained = 0;
  await Promise.all(
    clients.map(async (client, index) => {
      const owner = `w${index}`;
      let held: string[] = [];
      for (;;) {
        // Queued together on the connection: the server has the next lease as soon as the finish returns.
        const finished = held.length ? client.query(finish, [held, owner]) : null;
        const { rows } = leased ? await client.query<{ id: string }>(lease, [batch, owner]) : await client.query<{ id: string }>(take, [batch]);
        if (finished) drained += (await finished).rowCount ?? 0;
        if (!leased) drained += rows.length;
        if (!rows.length) return;
        held = leased ? rows.map((row) => row.id) : [];
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(`${leased ? 'leased, ' : ''}${connections} connections, batches of ${batch}: ${drained} rows in ${seconds.toFixed(2)} s, ${Math.round(drained / seconds)} rows/s`);
  await Promise.all(clients.map((client) => client.end()));
} finally {
  await admin.query(`DROP TABLE IF EXISTS ${table}`);
  await admin.end();
}
