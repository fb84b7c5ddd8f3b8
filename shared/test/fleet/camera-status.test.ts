import { describe, expect, it } from 'vitest';
import { MAX_RECENT_GAPS, cameraIndexMember, fleetKeys, parseCameraIndexMember, parseCameraStatus, serializeCameraStatus } from '../../src/fleet/index.js';
import { T, sampleStatus } from './sample-status.js';

describe('the fleet status keys', () => {
  it('are named by the fleet, with the version, and cannot be steered by a node id', () => {
    const keys = fleetKeys('default');
    expect(keys.cameraIndex).toBe('crispy:fleet:default:v1:cameras');
    expect(keys.camera('edge-a', 'cam7')).toBe('crispy:fleet:default:v1:camera:edge-a:cam7');
    // A node id with separators is encoded: it cannot make a key another camera's.
    expect(keys.camera('edge:a/b c', 'cam7')).toBe('crispy:fleet:default:v1:camera:edge%3Aa%2Fb%20c:cam7');
    expect(() => keys.camera('edge-a', 'cam:7')).toThrow(/not a source id/);
    expect(() => fleetKeys('site:x')).toThrow(/not a fleet name/);
  });

  it('index members name node and source and read back, odd node names included', () => {
    for (const node of ['edge-a', 'edge/with/slashes', 'ünïcødé', '%41']) {
      expect(parseCameraIndexMember(cameraIndexMember(node, 'cam_7'))).toEqual({ nodeId: node, sourceId: 'cam_7' });
    }
    expect(parseCameraIndexMember('no-slash')).toBeUndefined();
    expect(parseCameraIndexMember('edge/not a source')).toBeUndefined();
    expect(parseCameraIndexMember('%E0%A4%A/cam')).toBeUndefined();
  });
});

describe('a camera status record', () => {
  it('round-trips through the hash fields Redis holds', () => {
    const status = sampleStatus();
    const hash = serializeCameraStatus(status);
    for (const value of Object.values(hash)) expect(typeof value).toBe('string');
    expect(parseCameraStatus(hash)).toEqual({ ok: true, status });
    const quiet = sampleStatus({
      video: undefined,
      lastChunk: undefined,
      reason: undefined,
      spool: { ...status.spool, oldestWaitingEndMs: undefined, waitingSpans: [] },
    });
    expect(parseCameraStatus(serializeCameraStatus(quiet))).toEqual({ ok: true, status: quiet });
  });

  it('keeps its lists bounded when written', () => {
    const many = Array.from({ length: 80 }, (_, i) => ({ fromMs: T + i * 1000, toMs: T + i * 1000 + 500, ongoing: false }));
    const hash = serializeCameraStatus(sampleStatus({ recentGaps: many }));
    const parsed = parseCameraStatus(hash);
    expect(parsed.ok && parsed.status.recentGaps).toHaveLength(MAX_RECENT_GAPS);
    // The newest are kept.
    expect(parsed.ok && parsed.status.recentGaps.at(-1)?.fromMs).toBe(T + 79_000);
  });

  it('refuses another version, naming it', () => {
    const hash = { ...serializeCameraStatus(sampleStatus()), version: '2' };
    expect(parseCameraStatus(hash)).toEqual({ ok: false, problems: [expect.stringMatching(/version 2: .*newer stream-handle/)] });
    expect(parseCameraStatus({})).toEqual({ ok: false, problems: ['no version field: not a camera status'] });
  });

  it('names every malformed field rather than guessing', () => {
    const hash = {
      ...serializeCameraStatus(sampleStatus()),
      state: 'dancing',
      heartbeatMs: '1700000000', // seconds, not ms: a unit mistake
      staleAfterMs: '',
      video: '{"width":-1}',
      spool: 'not json',
      sourceId: '../etc',
    };
    const parsed = parseCameraStatus(hash);
    expect(parsed.ok).toBe(false);
    const problems = parsed.ok ? [] : parsed.problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^sourceId must be a source id/),
        expect.stringMatching(/^state must be starting, recording/),
        expect.stringMatching(/^heartbeatMs must be a time in epoch milliseconds/),
        expect.stringMatching(/^staleAfterMs must be milliseconds > 0/),
        expect.stringMatching(/^video must be null or/),
        'spool is not JSON',
      ]),
    );
    expect(problems).toHaveLength(6);
  });

  it('refuses spans that end before they start and lists longer than it writes', () => {
    const bad = serializeCameraStatus(sampleStatus());
    const spool = JSON.parse(bad.spool ?? '{}') as Record<string, unknown>;
    spool.waitingSpans = [{ fromMs: T, toMs: T - 1 }];
    expect(parseCameraStatus({ ...bad, spool: JSON.stringify(spool) }).ok).toBe(false);
    const gaps = Array.from({ length: MAX_RECENT_GAPS + 1 }, () => ({ fromMs: T, toMs: T, ongoing: false }));
    expect(parseCameraStatus({ ...bad, recentGaps: JSON.stringify(gaps) }).ok).toBe(false);
  });
});
