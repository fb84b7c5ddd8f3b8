// The compose check's only door to Docker: the clients named by the caller (never whatever `docker`
// PATH finds first), the daemon named by DOCKER_HOST, one compose project.
import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCommand(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({ code: code ?? (signal === null ? 1 : 128), stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
    });
    if (child.stdin !== null) {
      // A command may exit before reading its input; that is its answer, not our error.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
  });
}

export interface ComposeProject {
  /** The docker client, e.g. /usr/bin/docker. */
  docker: string;
  /** The compose command, e.g. ['/usr/bin/docker-compose'] or ['/usr/bin/docker', 'compose']. */
  compose: string[];
  name: string;
  profiles: string[];
  /** DOCKER_HOST and the variables the compose file reads. */
  env: NodeJS.ProcessEnv;
}

export class Docker {
  constructor(private readonly project: ComposeProject) {}

  get projectName(): string {
    return this.project.name;
  }

  async docker(args: string[], options: { input?: string; timeoutMs?: number; allowFailure?: boolean } = {}): Promise<CommandResult> {
    const result = await runCommand(this.project.docker, args, { env: this.project.env, ...options });
    if (result.code !== 0 && options.allowFailure !== true)
      throw new Error(`${this.project.docker} ${args.join(' ')} failed (${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
    return result;
  }

  async compose(args: string[], options: { timeoutMs?: number } = {}): Promise<CommandResult> {
    const [command = 'docker-compose', ...prefix] = this.project.compose;
    const profileArgs = this.project.profiles.flatMap((profile) => ['--profile', profile]);
    const full = [...prefix, '-p', this.project.name, ...profileArgs, ...args];
    const result = await runCommand(command, full, { env: this.project.env, ...options });
    if (result.code !== 0) throw new Error(`${[command, ...full].join(' ')} failed (${result.code}):\n${(result.stderr + result.stdout).trim()}`);
    return result;
  }

  /** The project's containers of one service, running or not (compose's own labels, v1 and v2 alike). */
  async containers(service: string): Promise<string[]> {
    const { stdout } = await this.docker([
      'ps',
      '-a',
      '-q',
      '--no-trunc',
      '--filter',
      `label=com.docker.compose.project=${this.project.name}`,
      '--filter',
      `label=com.docker.compose.service=${service}`,
    ]);
    return stdout.split('\n').filter((line) => line.trim() !== '');
  }

  async inspect(id: string): Promise<ContainerState> {
    const { stdout } = await this.docker(['inspect', id]);
    const [container] = JSON.parse(stdout) as RawContainer[];
    if (container === undefined) throw new Error(`docker inspect ${id}: no such container`);
    return {
      id,
      name: container.Name.replace(/^\//, ''),
      running: container.State.Running,
      exitCode: container.State.ExitCode,
      health: container.State.Health?.Status,
      healthTest: container.Config.Healthcheck?.Test,
      image: container.Image,
      env: container.Config.Env ?? [],
    };
  }

  /** stdout and stderr of a container, as one text (JSON log lines come from both). */
  async logs(id: string): Promise<string> {
    const { stdout, stderr } = await this.docker(['logs', id]);
    return `${stdout}\n${stderr}`;
  }

  async exec(id: string, command: string[], options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    const envArgs = Object.entries(options.env ?? {}).flatMap(([key, value]) => ['--env', `${key}=${value}`]);
    const interactive = options.input === undefined ? [] : ['-i'];
    return this.docker(['exec', ...interactive, ...envArgs, id, ...command], {
      ...(options.input === undefined ? {} : { input: options.input }),
      timeoutMs: options.timeoutMs ?? 30_000,
      allowFailure: true,
    });
  }

  async volumeMountpoint(volume: string): Promise<string> {
    const { stdout } = await this.docker(['volume', 'inspect', '--format', '{{.Mountpoint}}', `${this.project.name}_${volume}`]);
    return stdout.trim();
  }

  /** The host address Docker published a container port on, e.g. 127.0.0.1:3000. */
  async publishedPort(id: string, containerPort: string): Promise<string[]> {
    const { stdout } = await this.docker(['port', id, containerPort], { allowFailure: true });
    return stdout
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '');
  }
}

export interface ContainerState {
  id: string;
  name: string;
  running: boolean;
  /** Meaningful once stopped: 137 means Docker had to SIGKILL it. */
  exitCode: number;
  health: string | undefined;
  healthTest: string[] | undefined;
  image: string;
  env: string[];
}

interface RawContainer {
  Name: string;
  Image: string;
  State: { Running: boolean; ExitCode: number; Health?: { Status: string } };
  Config: { Healthcheck?: { Test?: string[] }; Env?: string[] };
}
