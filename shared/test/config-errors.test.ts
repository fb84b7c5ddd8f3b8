import { describe, expect, it } from 'vitest';
import { ConfigError, EnvReader, checkInteger } from '../src/config-errors.js';

describe('EnvReader', () => {
  describe('string', () => {
    it('trims values and treats empty or blank as unset', () => {
      const reader = new EnvReader({ A: '  value  ', B: '', C: '   ' });
      expect(reader.string('A')).toBe('value');
      expect(reader.string('B', 'fallback')).toBe('fallback');
      expect(reader.string('C')).toBeUndefined();
      expect(reader.string('MISSING', 'd')).toBe('d');
      expect(reader.problems).toEqual([]);
    });
  });

  describe('required', () => {
    it('records a problem with the hint when the setting is missing', () => {
      const reader = new EnvReader({});
      expect(reader.required('BUCKET_URL', 'gs://BUCKET or file:///DIR')).toBe('');
      expect(reader.problems).toEqual([{ setting: 'BUCKET_URL', message: 'is required: gs://BUCKET or file:///DIR' }]);
    });
  });

  describe('integer', () => {
    const range = { min: 1, max: 10 };

    it('returns the fallback when unset, and the value when it is a whole number in range', () => {
      const reader = new EnvReader({ N: '7', EDGE_LOW: '1', EDGE_HIGH: '10', SPACED: ' 3 ' });
      expect(reader.integer('UNSET', 5, range)).toBe(5);
      expect(reader.integer('N', 5, range)).toBe(7);
      expect(reader.integer('EDGE_LOW', 5, range)).toBe(1);
      expect(reader.integer('EDGE_HIGH', 5, range)).toBe(10);
      expect(reader.integer('SPACED', 5, range)).toBe(3);
      expect(reader.problems).toEqual([]);
    });

    it('reports out-of-range, fractional and non-numeric values with the range and keeps the fallback', () => {
      const reader = new EnvReader({ LOW: '0', HIGH: '11', FRACTION: '2.5', WORD: 'abc' });
      expect(reader.integer('LOW', 5, range)).toBe(5);
      expect(reader.integer('HIGH', 5, range)).toBe(5);
      expect(reader.integer('FRACTION', 5, range)).toBe(5);
      expect(reader.integer('WORD', 5, range)).toBe(5);
      expect(reader.problems).toEqual([
        { setting: 'LOW', message: '"0" is not a whole number from 1 to 10' },
        { setting: 'HIGH', message: '"11" is not a whole number from 1 to 10' },
        { setting: 'FRACTION', message: '"2.5" is not a whole number from 1 to 10' },
        { setting: 'WORD', message: '"abc" is not a whole number from 1 to 10' },
      ]);
    });
  });

  describe('number', () => {
    it('accepts fractions in range and reports the rest', () => {
      const reader = new EnvReader({ OK: '0.25', BAD: 'x', HIGH: '1.5' });
      expect(reader.number('OK', 0.5, { min: 0, max: 1 })).toBe(0.25);
      expect(reader.number('BAD', 0.5, { min: 0, max: 1 })).toBe(0.5);
      expect(reader.number('HIGH', 0.5, { min: 0, max: 1 })).toBe(0.5);
      expect(reader.number('UNSET', 0.5, { min: 0, max: 1 })).toBe(0.5);
      expect(reader.problems).toEqual([
        { setting: 'BAD', message: '"x" is not a number from 0 to 1' },
        { setting: 'HIGH', message: '"1.5" is not a number from 0 to 1' },
      ]);
    });
  });

  describe('boolean', () => {
    it('understands true/yes/on/1 and false/no/off/0 in any case', () => {
      const env: Record<string, string> = { A: 'TRUE', B: 'yes', C: 'On', D: '1', E: 'false', F: 'NO', G: 'off', H: '0' };
      const reader = new EnvReader(env);
      expect(['A', 'B', 'C', 'D'].map((name) => reader.boolean(name, false))).toEqual([true, true, true, true]);
      expect(['E', 'F', 'G', 'H'].map((name) => reader.boolean(name, true))).toEqual([false, false, false, false]);
      expect(reader.boolean('UNSET', true)).toBe(true);
      expect(reader.problems).toEqual([]);
    });

    it('reports anything else and keeps the fallback', () => {
      const reader = new EnvReader({ REALTIME: 'maybe' });
      expect(reader.boolean('REALTIME', true)).toBe(true);
      expect(reader.problems).toEqual([{ setting: 'REALTIME', message: '"maybe" is not a boolean: use true or false' }]);
    });
  });

  describe('oneOf', () => {
    it('accepts an allowed value and lists the allowed ones otherwise', () => {
      const reader = new EnvReader({ LOG_LEVEL: 'debug', POLICY: 'delete-all' });
      expect(reader.oneOf('LOG_LEVEL', 'info', ['debug', 'info'] as const)).toBe('debug');
      expect(reader.oneOf('POLICY', 'stop-recording', ['stop-recording', 'drop-oldest'] as const)).toBe('stop-recording');
      expect(reader.problems).toEqual([{ setting: 'POLICY', message: '"delete-all" is not one of stop-recording, drop-oldest' }]);
    });

    it('is case-sensitive', () => {
      const reader = new EnvReader({ LOG_LEVEL: 'DEBUG' });
      expect(reader.oneOf('LOG_LEVEL', 'info', ['debug', 'info'] as const)).toBe('info');
      expect(reader.problems).toHaveLength(1);
    });
  });

  describe('throwIfProblems', () => {
    it('does nothing without problems', () => {
      expect(() => new EnvReader({}).throwIfProblems('svc')).not.toThrow();
    });

    it('throws one ConfigError listing every problem', () => {
      const reader = new EnvReader({ PORT: '99999', FLAG: 'perhaps' });
      reader.integer('PORT', 3000, { min: 0, max: 65535 });
      reader.boolean('FLAG', false);
      reader.required('SECRET', 'set it');
      let caught: unknown;
      try {
        reader.throwIfProblems('upload-worker');
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      const error = caught as ConfigError;
      expect(error.name).toBe('ConfigError');
      expect(error.service).toBe('upload-worker');
      expect(error.problems.map((p) => p.setting)).toEqual(['PORT', 'FLAG', 'SECRET']);
      expect(error.message).toBe(
        'upload-worker: invalid configuration (3 problems):\n' +
          '  - PORT: "99999" is not a whole number from 0 to 65535\n' +
          '  - FLAG: "perhaps" is not a boolean: use true or false\n' +
          '  - SECRET: is required: set it',
      );
    });
  });
});

describe('ConfigError', () => {
  it('says "1 problem" in the singular', () => {
    expect(new ConfigError('svc', [{ setting: 'X', message: 'bad' }]).message).toBe('svc: invalid configuration (1 problem):\n  - X: bad');
  });
});

describe('checkInteger', () => {
  it('accepts whole numbers given as numbers or strings', () => {
    const report = (m: string) => expect.unreachable(m);
    expect(checkInteger(3, { min: 1, max: 10 }, report)).toBe(3);
    expect(checkInteger('10', { min: 1, max: 10 }, report)).toBe(10);
  });

  it('reports other values as JSON, so a string is quoted and a number is not', () => {
    const messages: string[] = [];
    const report = (m: string) => messages.push(m);
    for (const raw of [3.5, '', true, null, [1]]) expect(checkInteger(raw, { min: 1, max: 10 }, report)).toBeUndefined();
    expect(messages).toEqual([
      '3.5 is not a whole number from 1 to 10',
      '"" is not a whole number from 1 to 10',
      'true is not a whole number from 1 to 10',
      'null is not a whole number from 1 to 10',
      '[1] is not a whole number from 1 to 10',
    ]);
  });
});
