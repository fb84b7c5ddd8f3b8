// The soak's command line: `npm run soak -- --minutes N --cameras M [--fault-every S] [--seed X]`.

export interface SoakOptions {
  /** How long cameras record while faults are injected. */
  minutes: number;
  cameras: number;
  /** Mean seconds between two faults (each waits this long +-25 %). */
  faultEverySeconds: number;
  /** Seeds the choice of faults and victims, so a run can be repeated. */
  seed: number;
  chunkSeconds: number;
  /** Only these kinds of fault (names as in FAULT_KINDS); all that this machine can inject when empty. */
  only: string[];
}

export const SOAK_DEFAULTS: SoakOptions = { minutes: 10, cameras: 4, faultEverySeconds: 30, seed: 1, chunkSeconds: 4, only: [] };

const FLAGS: Record<string, { key: Exclude<keyof SoakOptions, 'only'>; min: number; max: number; integer: boolean }> = {
  '--minutes': { key: 'minutes', min: 0.5, max: 24 * 60, integer: false },
  '--cameras': { key: 'cameras', min: 1, max: 64, integer: true },
  '--fault-every': { key: 'faultEverySeconds', min: 5, max: 3600, integer: false },
  '--seed': { key: 'seed', min: 0, max: 2 ** 31 - 1, integer: true },
  '--chunk-seconds': { key: 'chunkSeconds', min: 1, max: 60, integer: true },
};

export const SOAK_USAGE = 'usage: npm run soak -- --minutes N --cameras M [--fault-every SECONDS] [--seed N] [--chunk-seconds N] [--only FAULT,FAULT]';

/** Parses the arguments, or throws an error that names the bad one and what to give instead. */
export function parseSoakArgs(argv: readonly string[]): SoakOptions {
  const options = { ...SOAK_DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '--only') {
      const list = inline ?? argv[++i];
      if (list === undefined || list.trim() === '') throw new Error(`--only needs a comma-separated list of faults. ${SOAK_USAGE}`);
      options.only = list.split(',').map((kind) => kind.trim());
      continue;
    }
    const spec = FLAGS[flag];
    if (spec === undefined) throw new Error(`unknown argument ${JSON.stringify(arg)}. ${SOAK_USAGE}`);
    const text = inline ?? argv[++i];
    const value = Number(text);
    if (
      text === undefined ||
      text.trim() === '' ||
      !Number.isFinite(value) ||
      (spec.integer && !Number.isInteger(value)) ||
      value < spec.min ||
      value > spec.max
    ) {
      throw new Error(
        `${flag} needs ${spec.integer ? 'a whole number' : 'a number'} from ${spec.min} to ${spec.max}, not ${JSON.stringify(text ?? null)}. ${SOAK_USAGE}`,
      );
    }
    options[spec.key] = value;
  }
  return options;
}
