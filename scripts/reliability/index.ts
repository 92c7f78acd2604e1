// The adversarial scenarios, in the order they run and are reported. Each runs against its own
// echod child process and returns its figures and checks; none throws.
import { adminIdleSockets } from './admin-idle-sockets.js';
import { adminPipelining } from './admin-pipelining.js';
import { connectionFlood } from './connection-flood.js';
import { endlessLine } from './endless-line.js';
import { neverReader } from './never-reader.js';
import { oddClients } from './odd-clients.js';
import { perIpHandshakeFlood } from './per-ip-handshake-flood.js';
import { resetStorm } from './reset-storm.js';
import type { ScenarioResult } from './scenario.js';
import { shutdownUnderLoad } from './shutdown-under-load.js';
import { slowloris } from './slowloris.js';

export interface Scenario {
  id: string;
  run: () => Promise<ScenarioResult>;
  /** The most it may take on the reference machine (2 shared cores), with room to spare. */
  timeoutMs: number;
  /** Known bugs in src/ that checks of this scenario expose: a short title, and the Check.knownBug text. */
  knownBugs: readonly { title: string; bug: string }[];
}

export const SCENARIOS: readonly Scenario[] = [
  { id: 'never-reader', run: neverReader, timeoutMs: 60_000, knownBugs: [] },
  { id: 'endless-line', run: endlessLine, timeoutMs: 60_000, knownBugs: [] },
  { id: 'slowloris', run: slowloris, timeoutMs: 60_000, knownBugs: [] },
  { id: 'connection-flood', run: connectionFlood, timeoutMs: 60_000, knownBugs: [] },
  { id: 'reset-storm', run: resetStorm, timeoutMs: 60_000, knownBugs: [] },
  { id: 'odd-clients', run: oddClients, timeoutMs: 60_000, knownBugs: [] },
  { id: 'shutdown-under-load', run: shutdownUnderLoad, timeoutMs: 60_000, knownBugs: [] },
  { id: 'admin-pipelining', run: adminPipelining, timeoutMs: 90_000, knownBugs: [] },
  { id: 'admin-idle-sockets', run: adminIdleSockets, timeoutMs: 60_000, knownBugs: [] },
  { id: 'per-ip-handshake-flood', run: perIpHandshakeFlood, timeoutMs: 90_000, knownBugs: [] },
];

export type { ScenarioResult };
