// The part of Cloud Logging's query language our documented queries use, evaluated over log
// entries, so a test can run them over what the function really logs. Strict: anything outside
// this part is an error, not a silent "no match" (a query we cannot check is not claimed checked).
//
// - comparisons `FIELD OP VALUE`, OP one of = != =~ !~ : >= > <= <, FIELD a dotted path, VALUE a
//   "quoted string" or a bare word (severities compare by rank: DEBUG < INFO < ... < EMERGENCY);
// - NOT, OR, AND and parentheses, with the language's precedence: NOT, then OR, then AND (so
//   `a AND b OR c` is `a AND (b OR c)`); separate lines are ANDed.
// How a JSON line becomes an entry (structured logging of Cloud Run and Cloud Functions):
// `severity` and `logging.googleapis.com/labels` are taken out; the rest is jsonPayload.

export interface LogEntry {
  severity: string;
  jsonPayload: Record<string, unknown>;
  labels: Record<string, string>;
  resource: { type: string; labels: Record<string, string> };
}

/** A line as Cloud Logging stores it from a service's stdout. */
export function entryOfLine(line: Record<string, unknown>, resource: LogEntry['resource']): LogEntry {
  const { severity, 'logging.googleapis.com/labels': labels, ...payload } = line;
  return { severity: typeof severity === 'string' ? severity : 'DEFAULT', jsonPayload: payload, labels: (labels ?? {}) as Record<string, string>, resource };
}

const SEVERITIES = ['DEFAULT', 'DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY'];

type Token = { kind: 'word' | 'string' | 'op' | 'open' | 'close' | 'newline'; text: string };

function tokenize(filter: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < filter.length) {
    const c = filter[i] ?? '';
    if (c === '\n') {
      tokens.push({ kind: 'newline', text: '\n' });
      i++;
    } else if (/\s/.test(c)) i++;
    else if (c === '(' || c === ')') {
      tokens.push({ kind: c === '(' ? 'open' : 'close', text: c });
      i++;
    } else if (c === '"') {
      let text = '';
      i++;
      for (; i < filter.length && filter[i] !== '"'; i++) {
        if (filter[i] === '\\') i++;
        text += filter[i] ?? '';
      }
      if (filter[i] !== '"') throw new Error(`unterminated string in ${JSON.stringify(filter)}`);
      i++;
      tokens.push({ kind: 'string', text });
    } else {
      const op = /^(=~|!~|!=|>=|<=|=|:|>|<)/.exec(filter.slice(i));
      if (op !== null) {
        tokens.push({ kind: 'op', text: op[1] ?? '' });
        i += (op[1] ?? '').length;
        continue;
      }
      const word = /^[A-Za-z0-9_.\-/]+/.exec(filter.slice(i));
      if (word === null) throw new Error(`unexpected ${JSON.stringify(c)} in ${JSON.stringify(filter)}`);
      tokens.push({ kind: 'word', text: word[0] });
      i += word[0].length;
    }
  }
  return tokens;
}

type Node = { and: Node[] } | { or: Node[] } | { not: Node } | { path: string[]; op: string; value: string };

export function parseLoggingFilter(filter: string): Node {
  const tokens = tokenize(filter);
  let at = 0;
  const peek = () => tokens[at];
  const take = () => tokens[at++];
  const word = (text: string) => peek()?.kind === 'word' && peek()?.text === text;

  // AND (lowest): lines, explicit AND.
  const andExpr = (): Node => {
    const parts = [orExpr()];
    for (;;) {
      while (peek()?.kind === 'newline') take();
      if (word('AND')) {
        take();
        parts.push(orExpr());
      } else if (peek() !== undefined && peek()?.kind !== 'close' && tokens[at - 1]?.kind === 'newline') {
        parts.push(orExpr());
      } else break;
    }
    return parts.length === 1 ? (parts[0] as Node) : { and: parts };
  };
  const orExpr = (): Node => {
    const parts = [unary()];
    while (word('OR')) {
      take();
      parts.push(unary());
    }
    return parts.length === 1 ? (parts[0] as Node) : { or: parts };
  };
  const unary = (): Node => {
    while (peek()?.kind === 'newline') take();
    if (word('NOT')) {
      take();
      return { not: unary() };
    }
    if (peek()?.kind === 'open') {
      take();
      const inner = andExpr();
      if (take()?.kind !== 'close') throw new Error(`missing ) in ${JSON.stringify(filter)}`);
      return inner;
    }
    const field = take();
    const op = take();
    const value = take();
    if (field?.kind !== 'word' || op?.kind !== 'op' || (value?.kind !== 'string' && value?.kind !== 'word')) {
      throw new Error(`expected FIELD OP VALUE near token ${at} of ${JSON.stringify(filter)}`);
    }
    return { path: field.text.split('.'), op: op.text, value: value.text };
  };
  const tree = andExpr();
  while (peek()?.kind === 'newline') take();
  if (at !== tokens.length) throw new Error(`unexpected ${JSON.stringify(peek()?.text)} in ${JSON.stringify(filter)}`);
  return tree;
}

function valueAt(entry: LogEntry, path: string[]): unknown {
  let value: unknown = entry;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function evaluate(node: Node, entry: LogEntry): boolean {
  if ('and' in node) return node.and.every((part) => evaluate(part, entry));
  if ('or' in node) return node.or.some((part) => evaluate(part, entry));
  if ('not' in node) return !evaluate(node.not, entry);
  const raw = valueAt(entry, node.path);
  if (raw === undefined || raw === null) return node.op === '!=' || node.op === '!~';
  const text = typeof raw === 'string' ? raw : typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : JSON.stringify(raw);
  if (node.path.join('.') === 'severity' && ['>', '>=', '<', '<=', '=', '!='].includes(node.op)) {
    const left = SEVERITIES.indexOf(text);
    const right = SEVERITIES.indexOf(node.value);
    if (right < 0) throw new Error(`${node.value} is not a severity`);
    return { '>': left > right, '>=': left >= right, '<': left < right, '<=': left <= right, '=': left === right, '!=': left !== right }[node.op] ?? false;
  }
  switch (node.op) {
    case '=':
      return text === node.value;
    case '!=':
      return text !== node.value;
    case '=~':
      return new RegExp(node.value).test(text);
    case '!~':
      return !new RegExp(node.value).test(text);
    case ':':
      return text.toLowerCase().includes(node.value.toLowerCase());
    default:
      throw new Error(`operator ${node.op} on ${node.path.join('.')} is not supported here`);
  }
}

export function matches(filter: string, entry: LogEntry): boolean {
  return evaluate(parseLoggingFilter(filter), entry);
}
