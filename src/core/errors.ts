/**
 * Every error echod throws on purpose is an {@link EchodError} with a stable `code`.
 * Callers and tests branch on `code`, never on the wording of `message`.
 */
export class EchodError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option (library or CLI) has a value echod cannot use. */
export class InvalidOptionError extends EchodError {
  /** The option's name as the caller spelled it (`maxLineBytes` or `--max-line-bytes`). */
  readonly option: string;
  readonly value: unknown;
  /** What would have been valid, as the message says it. */
  readonly expected: string;

  constructor(option: string, value: unknown, expected: string) {
    super('ERR_ECHOD_INVALID_OPTION', invalidOptionMessage(option, value, expected));
    this.option = option;
    this.value = value;
    this.expected = expected;
  }
}

/** `invalid OPTION: VALUE (expected EXPECTED)`: every invalid option says it this way. */
export function invalidOptionMessage(option: string, value: unknown, expected: string): string {
  return `invalid ${option}: ${describe(value)} (expected ${expected})`;
}

/** A bad command line or environment: the CLI prints it and exits with code 2. */
export class UsageError extends EchodError {
  constructor(message: string) {
    super('ERR_ECHOD_USAGE', message);
  }
}

/** `listen()` was called in a state where it cannot run (already listening, or closed). */
export class ServerStateError extends EchodError {
  constructor(message: string) {
    super('ERR_ECHOD_SERVER_STATE', message);
  }
}

/** The system's file error codes a person meets, in words (`ENOENT` → `no such file`). */
const FILE_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the path is too long',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
  ENOSPC: 'no space left on the device',
  EROFS: 'a read-only file system',
};

/**
 * Why a file could not be read or written, as a message says it: the words for a known code,
 * else the code, else the error's message. Every error about a file the person named uses it.
 */
export function fileErrorReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string') return FILE_ERRORS[code] ?? code;
  return err instanceof Error ? err.message : String(err);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  return Object.prototype.toString.call(value);
}
