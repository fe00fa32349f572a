// Retention that regulations accept, as a user runs it: `serve --policy` with a retention_regime
// refuses to start when a risk level is kept shorter than the regime's minimum (exit 2, the
// regime, the level, the days and the minimum named); the same file with
// acknowledge_short_retention starts, logs the reason, and `otel-audit report` states the regime,
// that it is not met, and the reason; a regime alone is a preset that the table's TTL follows.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startBridge, tempDir, type BridgeProcess } from './helpers/bridge-process.ts';

const work = tempDir('e2e-retention-');
const REASON = 'Low-risk FAQ answers hold no personal data; DPO decision 2026-11-02';
const policy = (name: string, doc: unknown) => {
  const file = join(work, name);
  writeFileSync(file, JSON.stringify(doc));
  return file;
};
const logLines = (b: BridgeProcess) =>
  b
    .log()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

let running: BridgeProcess | undefined;
afterAll(async () => {
  if (running) expect(await running.stop()).toBe(0);
});

describe('serve with a retention regime', () => {
  it('refuses to start when a risk level is kept shorter than the regime requires: exit 2, naming the regime, level, days and minimum', async () => {
    const file = policy('short.json', { retention_regime: 'eu-ai-act', retention_days: { low: 90, medium: 365 } });
    let err: Error | undefined;
    try {
      running = await startBridge({ dataDir: join(work, 'refused'), args: ['--policy', file] });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toMatch(/^bridge exited with 2 before it started; log:\n/);
    const stderr = err!.message.replace(/^bridge exited with 2 before it started; log:\n/, '');
    expect(stderr.split('\n').slice(0, 3)).toEqual([
      `otel-audit serve: refusing retention shorter than the retention regime requires, in policy ${file}:`,
      '  - retention_days.low: 90 days is shorter than the 184 days the EU AI Act requires (retention_regime "eu-ai-act", Art. 19(1) and 26(6): ' +
        'automatically generated logs kept at least six months): raise it to 184 or more, or set acknowledge_short_retention to the reason it is kept shorter',
      expect.stringMatching(/^Usage: otel-audit serve /),
    ]);
  });

  it('starts when the shortfall is acknowledged, logs the reason, and the report states the regime, that it is not met, and why', async () => {
    const file = policy('acknowledged.json', { retention_regime: 'eu-ai-act', retention_days: { low: 90 }, acknowledge_short_retention: REASON });
    running = await startBridge({ dataDir: join(work, 'acknowledged'), args: ['--policy', file] });
    const lines = logLines(running);
    expect(lines.find((l) => l.msg === 'retention shorter than the retention regime requires, acknowledged')).toMatchObject({
      level: 'warn',
      retention_regime: ['eu-ai-act'],
      shortfalls: ['low: 90 days, eu-ai-act requires 184'],
      acknowledge_short_retention: REASON,
    });
    // What it keeps is what the file says: the TTL is not raised behind the user's back.
    expect(lines.find((l) => l.msg === 'privacy policy in force')).toMatchObject({ retention_days: { low: 90, medium: 365, high: 2190 } });

    const r = await runCli(['report', '--api-url', running.apiUrl, '--framework', 'eu-ai-act', '--from', '1h', '--out', '-']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      '- **Retention regime:** EU AI Act (at least 184 days; Art. 19(1) and 26(6): automatically generated logs kept at least six months): ' +
        `not met, kept shorter: low risk 90 days. Acknowledged in the policy file (acknowledge_short_retention): "${REASON}"\n`,
    );
    expect(r.stderr).toContain(
      `  - Art. 19(1), Art. 26(6): Events of low risk are kept 90 days, less than the 184 days Art. 19 and 26(6) require (retention_days.low in the policy file). ` +
        `The policy file acknowledges it (acknowledge_short_retention): "${REASON}".\n`,
    );
    expect(await running.stop()).toBe(0);
    running = undefined;
  }, 60_000);

  it('a regime alone is a preset: HIPAA keeps every level at least 2192 days, and the table TTL says so', async () => {
    const file = policy('hipaa.json', { retention_regime: 'hipaa' });
    running = await startBridge({ dataDir: join(work, 'hipaa'), args: ['--policy', file] });
    const lines = logLines(running);
    expect(lines.find((l) => l.msg === 'retention by risk level set')).toMatchObject({ retention_days: { low: 2192, medium: 2192, high: 2192 } });
    expect(lines.find((l) => l.msg === 'retention meets the retention regime')).toMatchObject({ retention_regime: ['hipaa'] });
    const r = await runCli(['report', '--api-url', running.apiUrl, '--framework', 'hipaa', '--from', '1h', '--out', '-']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('- **Retention regime:** HIPAA (at least 2192 days; §164.316(b)(2)(i): documentation retained six years): met at every risk level\n');
    expect(r.stderr).not.toContain('§164.316(b)(2)(i):');
  }, 60_000);
});
