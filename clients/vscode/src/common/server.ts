// Resolves the command that starts the ragls server. Pure: the file system and process checks
// are injected, so the order of the candidates can be unit-tested.

export interface ServerCommand {
  command: string;
  args: string[];
  /** Where it came from, for the output channel. */
  source: string;
}

export interface ResolveInput {
  /** The `ragls.serverPath` setting ("" when unset). */
  serverPath: string;
  /** The interpreter selected in the Python extension, when there is one. */
  pythonPath?: string;
  platform: string; // process.platform
  /** $PATH */
  envPath: string;
}

export interface ResolveDeps {
  /** Whether an executable file exists at this path. */
  isExecutable(path: string): Promise<boolean>;
  /** Whether `command args...` runs and exits with status 0 (used for `python -c "import ragls"`). */
  succeeds(command: string, args: string[]): Promise<boolean>;
}

export class ServerNotFoundError extends Error {
  constructor(message: string, readonly tried: string[]) {
    super(message);
  }
}

function dirname(path: string, win: boolean): string {
  const i = Math.max(path.lastIndexOf("/"), win ? path.lastIndexOf("\\") : -1);
  return i <= 0 ? (i === 0 ? "/" : ".") : path.slice(0, i);
}

function join(dir: string, name: string, win: boolean): string {
  const sep = win ? "\\" : "/";
  return dir.endsWith("/") || dir.endsWith("\\") ? dir + name : dir + sep + name;
}

export async function resolveServerCommand(input: ResolveInput, deps: ResolveDeps): Promise<ServerCommand> {
  const win = input.platform === "win32";
  const exe = win ? "ragls.exe" : "ragls";
  const tried: string[] = [];

  const serverPath = input.serverPath.trim();
  if (serverPath !== "") {
    if (await deps.isExecutable(serverPath)) return { command: serverPath, args: [], source: "the ragls.serverPath setting" };
    throw new ServerNotFoundError(
      `ragls: the ragls.serverPath setting points to "${serverPath}", which is not an executable file. ` +
        `Fix the setting, or clear it to use the ragls installed in the selected Python environment.`,
      [serverPath],
    );
  }

  const python = input.pythonPath?.trim();
  if (python) {
    const nextTo = join(dirname(python, win), exe, win);
    tried.push(nextTo);
    if (await deps.isExecutable(nextTo)) return { command: nextTo, args: [], source: `the selected Python (${python})` };
    tried.push(`${python} -m ragls`);
    if (await deps.succeeds(python, ["-c", "import ragls"]))
      return { command: python, args: ["-m", "ragls"], source: `the selected Python (${python})` };
  }

  for (const dir of input.envPath.split(win ? ";" : ":").filter((d) => d !== "")) {
    const candidate = join(dir, exe, win);
    if (await deps.isExecutable(candidate)) {
      tried.push(candidate);
      return { command: candidate, args: [], source: "PATH" };
    }
  }
  tried.push(`${exe} on PATH`);

  const python3 = win ? "python" : "python3";
  tried.push(`${python3} -m ragls`);
  if (await deps.succeeds(python3, ["-c", "import ragls"])) return { command: python3, args: ["-m", "ragls"], source: python3 };

  throw new ServerNotFoundError(
    `ragls: cannot find the ragls language server (tried: ${tried.join(", ")}). ` +
      `Install it into the selected Python environment (pip install ragls, or pip install -e . ` +
      `from a checkout), or set ragls.serverPath to the ragls executable, then run "ragls: Restart Server".`,
    tried,
  );
}

/** Arguments after the resolved command: run the server, logging at `logLevel` to stderr (the output channel). */
export function serveArgs(logLevel: unknown): string[] {
  const verbosity: Record<string, string[]> = { warning: [], info: ["-v"], debug: ["-vv"] };
  return ["serve", ...(verbosity[String(logLevel)] ?? verbosity.info)];
}
