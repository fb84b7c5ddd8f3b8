// Start-up validation collects every problem at once, so a person fixes them in one go.

export interface ConfigProblem {
  /** The setting, e.g. `SPOOL_DIR` or `sources[2].url`. */
  setting: string;
  /** What is wrong and what to do about it. */
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly service: string,
    readonly problems: ConfigProblem[],
  ) {
    super(
      `${service}: invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p.setting}: ${p.message}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads typed settings from an environment, remembering every problem it meets. */
export class EnvReader {
  readonly problems: ConfigProblem[] = [];

  constructor(private readonly env: Env) {}

  problem(setting: string, message: string): void {
    this.problems.push({ setting, message });
  }

  string(name: string, fallback: string): string;
  string(name: string, fallback?: undefined): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === undefined || value === '' ? fallback : value;
  }

  required(name: string, hint: string): string {
    const value = this.string(name);
    if (value === undefined) {
      this.problem(name, `is required: ${hint}`);
      return '';
    }
    return value;
  }

  integer(name: string, fallback: number, range: { min: number; max: number }): number {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    return checkInteger(raw, range, (message) => this.problem(name, message)) ?? fallback;
  }

  number(name: string, fallback: number, range: { min: number; max: number }): number {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < range.min || value > range.max) {
      this.problem(name, `"${raw}" is not a number from ${range.min} to ${range.max}`);
      return fallback;
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.string(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    this.problem(name, `"${raw}" is not a boolean: use true or false`);
    return fallback;
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.problem(name, `"${raw}" is not one of ${allowed.join(', ')}`);
    return fallback;
  }

  throwIfProblems(service: string): void {
    if (this.problems.length > 0) throw new ConfigError(service, this.problems);
  }
}

export function checkInteger(raw: unknown, range: { min: number; max: number }, report: (message: string) => void): number | undefined {
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    report(`${JSON.stringify(raw)} is not a whole number from ${range.min} to ${range.max}`);
    return undefined;
  }
  return value;
}
